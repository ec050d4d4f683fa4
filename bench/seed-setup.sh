#!/usr/bin/env bash
# What the seed comparison (`bash bench/run.sh`, section `seed`) needs:
# Debian's nginx for the Google Custom Search mock, and the seed's own
# virtualenv (Flask, gunicorn, pinned in ../shared/peers/flask-seed) in
# .tools/flask-venv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q nginx >/dev/null; else sudo apt-get install -y -q nginx >/dev/null; fi
fi
venv=.tools/flask-venv
if [ ! -x "$venv/bin/gunicorn" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r ../shared/peers/flask-seed/requirements.txt
fi
echo "nginx: $(nginx -v 2>&1); gunicorn: $("$venv/bin/gunicorn" --version)"
