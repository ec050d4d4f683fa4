#!/usr/bin/env bash
# The scale-out rehearsal (issue 19), on loopback, bounded in time:
#
#   indexer (demo corpus) ──pull──▶ search ×3 ◀── nginx ◀── results ◀── web ◀── wrk
#
# One web, one results and three search replicas behind Debian's nginx;
# the replicas pull the index from an indexer, as on Kubernetes. wrk loads
# GET /api/v1/search on web with the queries in bench/queries.txt:
#
#   1. steady: LOAD_S seconds; each process's CPU time is read from /proc
#      before and after, so each role's requests per CPU-second (req/s per
#      core) and peak resident memory come out of one run;
#   2. a replica killed: the same load; after KILL_AT_S seconds one search
#      replica gets SIGKILL, and RESTART_AFTER_S seconds later it starts
#      again (it pulls the index anew and nginx sends to it once it
#      answers). Failed requests (non-2xx and socket errors) must stay
#      within the retry budget (services.retry_budget_percent, 20%); the
#      rest are answered normally.
#
#   bash bench/scale-out.sh [--binary FILE] [--load-s N]
#
# The binary is the container image's (scripts/build-static.sh) unless
# told. Prints a Markdown report; docs/BENCHMARKS.md records one.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
load_s=20
kill_at_s=6
restart_after_s=4
connections=32
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --load-s) load_s=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

for tool in nginx wrk curl python3; do
    if ! command -v "$tool" >/dev/null; then
        if [[ $tool == nginx || $tool == wrk ]] && command -v apt-get >/dev/null; then
            sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
            $sudo apt-get install -y -q "$tool" >/dev/null
        else
            echo "error: $tool is needed" >&2
            exit 1
        fi
    fi
done
if [[ -z $binary ]]; then
    binary=$(bash scripts/build-static.sh)
fi

work=$(mktemp -d /tmp/trawl-scale.XXXXXX)
declare -A pid
cleanup() {
    for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() {
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "error: port $1 never became ready ($2)" >&2
    cat "$work/$2.log" >&2
    exit 1
}
cat >"$work/trawl.toml" <<'EOF'
[server]
request_timeout_ms = 10000

[[engines]]
name = "local"
type = "local"
EOF
common=(TRAWL_CONFIG="$work/trawl.toml" TRAWL_LOG=warn TRAWL_RATE_LIMIT_EXEMPT=127.0.0.0/8)

# start NAME PORT [VAR=VALUE...] -- ARGS...
start() {
    local name=$1 p=$2
    shift 2
    local vars=()
    while [[ $1 != -- ]]; do vars+=("$1"); shift; done
    shift
    mkdir -p "$work/$name"
    env "${common[@]}" "${vars[@]}" TRAWL_LISTEN="127.0.0.1:$p" TRAWL_DATA_DIR="$work/$name" \
        "$binary" serve "$@" >"$work/$name.log" 2>&1 &
    pid[$name]=$!
}

p_indexer=$(port); p_web=$(port); p_results=$(port); p_lb=$(port)
p_search=("$(port)" "$(port)" "$(port)")
replica_key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
start indexer "$p_indexer" TRAWL_INDEX_KEY="$replica_key" -- --role indexer
wait_ready "$p_indexer" indexer
for i in 0 1 2; do
    start "search$i" "${p_search[$i]}" TRAWL_INDEX_FROM="http://127.0.0.1:$p_indexer/" TRAWL_INDEX_KEY="$replica_key" -- --role search
done
for i in 0 1 2; do wait_ready "${p_search[$i]}" "search$i"; done

cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx-body;
    proxy_temp_path $work/nginx-proxy;
    upstream search {
        server 127.0.0.1:${p_search[0]} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:${p_search[1]} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:${p_search[2]} max_fails=1 fail_timeout=2s;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$p_lb;
        location / {
            proxy_pass http://search;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_read_timeout 15s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;
            proxy_next_upstream_timeout 2s;
        }
    }
}
EOF
nginx -c "$work/nginx.conf" -p "$work"
start results "$p_results" TRAWL_SEARCH_URL="http://127.0.0.1:$p_lb/" -- --role results
start web "$p_web" TRAWL_RESULTS_URL="http://127.0.0.1:$p_results/" -- --role web
wait_ready "$p_results" results
wait_ready "$p_web" web

# wrk: the queries in turn, and a count of every status.
cat >"$work/load.lua" <<EOF
local queries = {}
for line in io.lines("$(pwd)/bench/queries.txt") do
    queries[#queries + 1] = line:gsub(" ", "+")
end
local n = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = math.random(#queries); statuses = {} end
function request()
    n = n % #queries + 1
    return wrk.format("GET", "/api/v1/search?q=" .. queries[n])
end
function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
    local all = {}
    for _, t in ipairs(threads) do
        for status, count in pairs(t:get("statuses")) do all[status] = (all[status] or 0) + count end
    end
    for status, count in pairs(all) do io.write(string.format("status %d %d\n", status, count)) end
    io.write(string.format("socket_errors %d\n", summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout))
    io.write(string.format("requests %d\n", summary.requests))
    io.write(string.format("p50_ms %.2f\np99_ms %.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
roles=(web results search0 search1 search2)
declare -A before after
ticks=$(getconf CLK_TCK)
for r in "${roles[@]}"; do before[$r]=$(cpu_ticks "${pid[$r]}"); done
nginx_pid=$(pgrep -P "$(cat "$work/nginx.pid")" | head -n 1)
before_nginx=$(cpu_ticks "$nginx_pid")
wrk -t2 -c"$connections" -d"${load_s}s" --timeout 5s -s "$work/load.lua" "http://127.0.0.1:$p_web" >"$work/steady.txt"
for r in "${roles[@]}"; do after[$r]=$(cpu_ticks "${pid[$r]}"); done
after_nginx=$(cpu_ticks "$nginx_pid")
steady_requests=$(awk '/^requests / {print $2}' "$work/steady.txt")
steady_ok=$(awk '/^status 200 / {print $3}' "$work/steady.txt")

cpu_s() { echo "scale=3; ($2 - $1) / $ticks" | bc; }
per_core() { echo "scale=0; $1 / $2" | bc; }
{
    echo "### Scale-out rehearsal: steady load"
    echo
    echo "wrk, 2 threads, $connections connections, ${load_s} s, GET /api/v1/search over bench/queries.txt;"
    echo "$steady_requests requests, $steady_ok answered 200, $(awk '{printf "%d req/s", $1/'"$load_s"'}' <<<"$steady_requests"),"
    echo "p50 $(awk '/^p50_ms/ {print $2}' "$work/steady.txt") ms, p99 $(awk '/^p99_ms/ {print $2}' "$work/steady.txt") ms."
    echo
    echo "| role | processes | CPU seconds | req/s per core | peak RSS |"
    echo "|---|---|---|---|---|"
    for role in web results; do
        c=$(cpu_s "${before[$role]}" "${after[$role]}")
        echo "| $role | 1 | $c | $(per_core "$steady_requests" "$c") | $(( $(peak_kib "${pid[$role]}") / 1024 )) MiB |"
    done
    c=0
    peak=0
    for i in 0 1 2; do
        c=$(echo "$c + $(cpu_s "${before[search$i]}" "${after[search$i]}")" | bc)
        k=$(peak_kib "${pid[search$i]}")
        (( k > peak )) && peak=$k
    done
    echo "| search | 3 | $c | $(per_core "$steady_requests" "$c") | $(( peak / 1024 )) MiB (largest) |"
    c=$(cpu_s "$before_nginx" "$after_nginx")
    echo "| nginx | 1 | $c | $(per_core "$steady_requests" "$c") | – |"
    echo "| indexer (idle) | 1 | – | – | $(( $(peak_kib "${pid[indexer]}") / 1024 )) MiB |"
} >"$work/report.md"

# 2. The same load; one replica killed, then restarted.
wrk -t2 -c"$connections" -d"${load_s}s" --timeout 5s -s "$work/load.lua" "http://127.0.0.1:$p_web" >"$work/kill.txt" &
load=$!
sleep "$kill_at_s"
kill -KILL "${pid[search1]}"
killed_at=$(date +%s.%N)
sleep "$restart_after_s"
start search1 "${p_search[1]}" TRAWL_INDEX_FROM="http://127.0.0.1:$p_indexer/" TRAWL_INDEX_KEY="$replica_key" -- --role search
wait_ready "${p_search[1]}" search1
back_at=$(date +%s.%N)
wait "$load"
kill_requests=$(awk '/^requests / {print $2}' "$work/kill.txt")
kill_ok=$(awk '/^status 200 / {print $3}' "$work/kill.txt")
kill_ok=${kill_ok:-0}
socket_errors=$(awk '/^socket_errors / {print $2}' "$work/kill.txt")
failed=$(( kill_requests - kill_ok ))
# What the kill did: nginx's own log of upstream failures it passed over.
upstream_errors=$(grep -c "upstream" "$work/nginx-error.log" || true)
budget=20
{
    echo
    echo "### Scale-out rehearsal: a search replica killed under load"
    echo
    echo "The same load for ${load_s} s; after ${kill_at_s} s one of the three replicas got SIGKILL, and was"
    echo "started again ${restart_after_s} s later: ready (its index pulled anew) $(echo "$back_at - $killed_at" | bc | xargs printf '%.1f') s after the kill."
    echo "nginx logged $upstream_errors upstream failures (connections refused or cut), each passed to another replica."
    echo
    echo "| requests | answered 200 | failed | of which socket errors | p50 | p99 | statuses |"
    echo "|---|---|---|---|---|---|---|"
    echo "| $kill_requests | $kill_ok | $failed | $socket_errors | $(awk '/^p50_ms/ {print $2}' "$work/kill.txt") ms | $(awk '/^p99_ms/ {print $2}' "$work/kill.txt") ms | $(awk '/^status/ {printf "%s×%s ", $3, $2}' "$work/kill.txt")|"
} >>"$work/report.md"
cat "$work/report.md"
if (( failed * 100 > kill_requests * budget )); then
    echo "FAILED: $failed of $kill_requests requests failed, more than the retry budget ($budget%)" >&2
    exit 1
fi
echo
echo "Failed requests: $failed of $kill_requests ($(echo "scale=3; 100 * $failed / $kill_requests" | bc)%), within the retry budget ($budget%)."
