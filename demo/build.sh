#!/usr/bin/env bash
# Rebuilds demo/trawl-demo.jsonl.gz, the corpus `trawl serve` indexes on first
# start, from Debian's documentation packages, with trawl's own folder
# ingestion. Run from anywhere; needs root (or the packages already installed).
set -euo pipefail
cd "$(dirname "$0")/.."

pg=/usr/share/doc/postgresql-doc-15/html
py=/usr/share/doc/python3.11/html
if [ ! -d "$pg" ] || [ ! -d "$py" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-doc-15 python3.11-doc
fi

cargo build --release -q
trawl=target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/trawl
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

# Index pages (lists of every term with links) match every query and answer
# none: leave them out, with Sphinx's search page, sources and assets.
"$trawl" --data-dir "$data" index add "$pg" \
  --base-url https://www.postgresql.org/docs/15/ \
  --exclude bookindex.html
"$trawl" --data-dir "$data" index add "$py" \
  --base-url https://docs.python.org/3.11/ \
  --exclude '_sources/**' --exclude '_static/**' --exclude '_downloads/**' --exclude '_images/**' \
  --exclude 'genindex*.html' --exclude py-modindex.html --exclude search.html
"$trawl" --data-dir "$data" index stats
"$trawl" --data-dir "$data" index export demo/trawl-demo.jsonl.gz
ls -l demo/trawl-demo.jsonl.gz
