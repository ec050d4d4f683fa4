#!/usr/bin/env bash
# Checks what an operator deploys, without a cluster or a container engine.
#
#   bash scripts/check-deploy.sh manifests
#       Renders every Kubernetes layout (deploy/k8s/overlays/*) with
#       kustomize, validates each object against the Kubernetes schemas and
#       trawl's promises (security context, probes, resources, drain, who
#       talks to whom), validates compose.yaml against the Compose
#       specification, and has trawl read the shared trawl.toml
#       (scripts/check_manifests.py). Needs `bash scripts/install-test-tools.sh`
#       (.tools/deploy) and kubectl or kustomize. The test suite runs this
#       (crates/trawl/tests/api/deploy.rs).
#
#   bash scripts/check-deploy.sh image [--binary FILE] [--profile P]
#       What `FROM scratch` will do: builds the static binary
#       (scripts/build-static.sh, profile `image` unless told), lays out the
#       image's filesystem (scripts/image-root.sh) and runs trawl chrooted
#       into it, as UID 65532, with the root read-only and only what a
#       container runtime provides besides (/proc, /dev's null, zero,
#       random and urandom, /etc/hosts and resolv.conf; the data directory
#       and /tmp as volumes). It must serve the demo corpus, answer its own
#       health check (`trawl probe`), and a second one, a search replica,
#       must pull the index from the first by name. Reports the image's
#       size, and with the `image` profile holds it to 25 MB. Needs root
#       (mount, chroot). CI runs this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

manifests() {
    local python=.tools/deploy/bin/python
    if [[ ! -x $python ]]; then
        echo "error: $python is missing: run bash scripts/install-test-tools.sh" >&2
        exit 1
    fi
    local kustomize
    if command -v kustomize >/dev/null; then
        kustomize="kustomize build"
    elif command -v kubectl >/dev/null; then
        kustomize="kubectl kustomize"
    else
        echo "error: neither kustomize nor kubectl is installed: nothing can render deploy/k8s" >&2
        exit 1
    fi
    local trawl=${TRAWL_BIN:-target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}debug/trawl}
    [[ -x $trawl ]] || cargo build --quiet -p trawl
    "$python" scripts/check_manifests.py --kustomize "$kustomize" --trawl "$trawl"
}

image() {
    local binary="" profile=image
    while [ $# -gt 0 ]; do
        case "$1" in
            --binary) binary=$2; shift 2 ;;
            --profile) profile=$2; shift 2 ;;
            *) echo "unknown argument: $1" >&2; exit 2 ;;
        esac
    done
    if [ "$(id -u)" != 0 ]; then
        echo "error: the empty-root check mounts and chroots: run it as root" >&2
        exit 1
    fi
    # Global: the exit trap reads them after this function has returned.
    work=$(mktemp -d /tmp/trawl-image.XXXXXX)
    pids=()
    cleanup() {
        # unshare ignores SIGTERM; trawl, its child, drains on it.
        for pid in "${pids[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; done
        for _ in $(seq 1 50); do
            local alive=0
            for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [[ $alive == 0 ]] && break
            sleep 0.2
        done
        for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$work"
    }
    trap cleanup EXIT
    if [[ -z $binary ]]; then
        binary=$(bash scripts/build-static.sh --profile "$profile" --out "$work/trawl")
    elif ! command -v file >/dev/null; then
        echo "error: \`file\` is not installed: cannot tell whether $binary is static" >&2
        exit 1
    elif ! file "$binary" | grep -q "statically linked\|static-pie linked"; then
        echo "error: $binary is not statically linked: an empty root has no loader" >&2
        exit 1
    fi
    local root=$work/root
    bash scripts/image-root.sh "$root" "$binary"
    local bytes
    bytes=$(du -sb "$root" | cut -f1)
    echo "image content: $bytes bytes ($(awk "BEGIN {printf \"%.1f\", $bytes / 1e6}") MB); the binary $(stat -c %s "$root/usr/local/bin/trawl") bytes"
    if [[ $profile == image && $bytes -gt 25000000 ]]; then
        echo "error: the image holds more than 25 MB" >&2
        exit 1
    fi
    # Mount points for what the runtime provides: made in this copy, not
    # in the image.
    mkdir -p "$root/dev" "$root/proc"
    touch "$root/etc/hosts" "$root/etc/resolv.conf"
    for d in null zero random urandom; do touch "$root/dev/$d"; done

    # One container: a private mount and PID namespace, the root read-only,
    # volumes and runtime mounts on top, then trawl as 65532 with only the
    # image's environment (env -i, then chroot: env is the host's).
    # run NAME PORT [VAR=VALUE...] -- COMMAND...
    run() {
        local name=$1 port=$2
        shift 2
        local vars=()
        while [[ $1 != -- ]]; do vars+=("$1"); shift; done
        shift
        local data=$work/$name-data
        mkdir -p "$data"
        chown 65532:65532 "$data"
        unshare --mount --pid --fork --kill-child sh -c '
            set -e
            root=$1 data=$2; shift 2
            mount --bind "$root" "$root"
            mount -o remount,bind,ro "$root"
            mount --bind "$data" "$root/var/lib/trawl"
            mount -t tmpfs -o size=64m,mode=1777 tmpfs "$root/tmp"
            for d in null zero random urandom; do mount --bind "/dev/$d" "$root/dev/$d"; done
            mount -t proc proc "$root/proc"
            mount --bind /etc/hosts "$root/etc/hosts"
            mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
            exec "$@"
        ' sh "$root" "$data" \
            "$(command -v env)" -i TRAWL_LISTEN="127.0.0.1:$port" TRAWL_DATA_DIR=/var/lib/trawl \
            TRAWL_LOG_FORMAT=json TMPDIR=/tmp SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
            "${vars[@]}" "$(command -v chroot)" --userspec=65532:65532 "$root" \
            "$@" >"$work/$name.log" 2>&1 &
        pids+=($!)
    }
    local port_all port_search
    port_all=$(free_port)
    port_search=$(free_port)
    # The key search replicas pull the index with; the indexer accepts it.
    local replica_key
    replica_key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    run one "$port_all" TRAWL_INDEX_KEY="$replica_key" -- /usr/local/bin/trawl serve
    wait_ready "$port_all" "$work/one.log"
    local found
    found=$(curl -fsS "http://127.0.0.1:$port_all/api/v1/search?q=create+index+concurrently")
    grep -q '"url":"https://www.postgresql.org/docs/15/sql-createindex.html"' <<<"$found" \
        || { echo "error: the demo corpus did not answer: $found" >&2; exit 1; }
    echo "one binary in an empty, read-only root as 65532: ready, and the demo corpus answers"
    # The health check the image declares, run inside the image.
    run probe 0 -- /usr/local/bin/trawl probe --listen "127.0.0.1:$port_all"
    if ! wait "${pids[-1]}"; then
        echo "error: trawl probe failed inside the root:" >&2
        cat "$work/probe.log" >&2
        exit 1
    fi
    echo "trawl probe (the image's HEALTHCHECK) passes inside the root"
    # A search replica pulls the index by host name (getaddrinfo through
    # /etc/hosts, in a static binary).
    run search "$port_search" TRAWL_INDEX_FROM="http://localhost:$port_all/" \
        TRAWL_INDEX_KEY="$replica_key" -- /usr/local/bin/trawl serve --role search
    wait_ready "$port_search" "$work/search.log"
    local documents
    documents=$(curl -fsS "http://127.0.0.1:$port_search/v1/engines" | grep -o '"documents":[0-9]*' | cut -d: -f2)
    if [[ $documents != 1667 ]]; then
        echo "error: the replica holds $documents documents, not 1667" >&2
        exit 1
    fi
    echo "a search replica in its own root pulled the index by host name: 1667 documents"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() {
    local port=$1 log=$2
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "error: trawl on port $port never became ready; its log:" >&2
    cat "$log" >&2
    exit 1
}

case "${1:-}" in
    manifests) shift; manifests "$@" ;;
    image) shift; image "$@" ;;
    *) echo "usage: $0 manifests | image [--binary FILE] [--profile P]" >&2; exit 2 ;;
esac
