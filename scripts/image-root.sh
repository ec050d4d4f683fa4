#!/usr/bin/env bash
# Lays out the container image's whole filesystem in DIR: the static trawl
# binary, the CA bundle, the writable data directory and /tmp, and the
# licences. The Dockerfile builds its final `FROM scratch` stage from this
# layout, and scripts/check-deploy.sh runs trawl chrooted into it: one
# recipe for both.
#
#   bash scripts/image-root.sh DIR BINARY [CA_BUNDLE]
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:?usage: image-root.sh DIR BINARY [CA_BUNDLE]}
binary=${2:?usage: image-root.sh DIR BINARY [CA_BUNDLE]}
ca=${3:-/etc/ssl/certs/ca-certificates.crt}
# The image's user: no name, no /etc/passwd (distroless's "nonroot" UID).
uid=65532
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/var/lib/trawl" "$root/tmp" \
    "$root/usr/share/doc/trawl/demo"
install -m 0755 "$binary" "$root/usr/local/bin/trawl"
install -m 0644 "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
install -m 0644 LICENSE "$root/usr/share/doc/trawl/LICENSE"
install -m 0644 demo/README.md demo/LICENSES.md "$root/usr/share/doc/trawl/demo/"
chown "$uid:$uid" "$root/var/lib/trawl"
chmod 0755 "$root/var/lib/trawl"
chmod 1777 "$root/tmp"
