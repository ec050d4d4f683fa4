#!/usr/bin/env bash
# Builds trawl as one statically linked executable (glibc's static libc,
# `-C target-feature=+crt-static`): what the container image holds and what
# the empty-root test runs. The target is named explicitly so that the flag
# reaches trawl and not the build scripts and proc-macros cargo runs on the
# host. Prints the binary's path.
#
#   bash scripts/build-static.sh [--profile image|release|dev] [--out FILE]
#
# The default profile, `image`, is the one the Dockerfile ships (Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=image
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
target="$(uname -m)-unknown-linux-gnu"
var="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
export "$var=-C target-feature=+crt-static"
cargo build --locked --profile "$profile" --target "$target" -p trawl >&2
dir=$profile
[ "$profile" = dev ] && dir=debug
binary="target/$target/$dir/trawl"
# Static means no interpreter and no shared library to load.
if file "$binary" 2>/dev/null | grep -q "dynamically linked"; then
    echo "$binary is dynamically linked" >&2
    exit 1
fi
if [ -n "$out" ]; then
    mkdir -p "$(dirname "$out")"
    # No symbols or debug info in an image (the `image` profile has none;
    # the others keep theirs in target/).
    objcopy --strip-all "$binary" "$out"
    binary=$out
fi
echo "$binary"
