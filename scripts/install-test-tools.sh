#!/usr/bin/env bash
# Installs the tools the test suite drives from outside Rust, into .tools/
# (git-ignored), so that nothing is installed system-wide:
#
#   - Schemathesis, which fuzzes each service against its OpenAPI document
#     (crates/trawl/tests/api/contract.rs finds it at .tools/venv/bin/st);
#   - promtool, from Debian's `prometheus` package (installed system-wide,
#     with apt): it checks each role's /metrics and the alert rules in
#     deploy/observability/ (crates/trawl/tests/api/observability.rs);
#   - Debian's chromium and chromium-driver (apt), and playwright-core and
#     axe-core from npm, pinned by crates/trawl/tests/browser/package-lock.json
#     into that directory's node_modules/ (git-ignored): the browser tests
#     (crates/trawl/tests/api/browser.rs). No browser is downloaded;
#   - LangChain's langchain-community, in a venv of its own at
#     .tools/langchain: its SearxSearchWrapper is pointed at trawl
#     (crates/trawl/tests/api/searxng.rs runs crates/trawl/tests/searxng/clients.py);
#   - kubernetes-validate and check-jsonschema, in .tools/deploy: the
#     deployment checks (scripts/check-deploy.sh, crates/trawl/tests/api/deploy.rs).
#
# Idempotent: a second run with the same pinned versions does nothing.
# Needs python3 (3.9 or later) with venv, and PyPI; apt-get for promtool.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
# Debian packages, installed when missing (a stale package list is
# refreshed once, then the install is tried again).
apt_install() {
    command -v apt-get >/dev/null || { echo "error: $* not installed and apt-get is not here" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null \
        || { $sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

# The package's own server is not started (no init system here; and
# nothing needs it): only its promtool is used.
command -v promtool >/dev/null || apt_install prometheus
promtool --version 2>&1 | head -n 1

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    apt_install chromium chromium-driver
fi
/usr/bin/chromium --version 2>/dev/null
browser=crates/trawl/tests/browser
command -v npm >/dev/null || apt_install nodejs npm
if ! (cd "$browser" && npm ls --depth=0 playwright-core axe-core >/dev/null 2>&1); then
    (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd "$browser" && npm ls --depth=0 playwright-core axe-core | tail -n +2)

command -v python3 >/dev/null || { echo "error: python3 is needed for the Python test tools" >&2; exit 1; }

# langchain-community is being sunset upstream: pinned, in its own venv so
# that its dependencies never meet Schemathesis's.
LANGCHAIN_COMMUNITY_VERSION=0.4.2
langchain=.tools/langchain
if [[ -x $langchain/bin/python ]] && "$langchain/bin/python" -m pip show langchain-community 2>/dev/null | grep -qx "Version: $LANGCHAIN_COMMUNITY_VERSION"; then
    echo "langchain-community $LANGCHAIN_COMMUNITY_VERSION already installed in $langchain"
else
    rm -rf "$langchain"
    python3 -m venv "$langchain"
    "$langchain/bin/pip" install --quiet --disable-pip-version-check "langchain-community==$LANGCHAIN_COMMUNITY_VERSION"
    echo "langchain-community $LANGCHAIN_COMMUNITY_VERSION installed in $langchain"
fi

# The deployment checks (scripts/check-deploy.sh manifests): the Kubernetes
# schemas and the Compose specification's, pinned, in a venv of their own.
# kustomize itself comes with kubectl (or a kustomize binary on PATH); none
# is on PyPI, npm or in Debian at a version that knows components.
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
deploy=.tools/deploy
if [[ -x $deploy/bin/python ]] \
    && "$deploy/bin/python" -m pip show kubernetes-validate 2>/dev/null | grep -qx "Version: $KUBERNETES_VALIDATE_VERSION" \
    && "$deploy/bin/python" -m pip show check-jsonschema 2>/dev/null | grep -qx "Version: $CHECK_JSONSCHEMA_VERSION"; then
    echo "kubernetes-validate $KUBERNETES_VALIDATE_VERSION and check-jsonschema $CHECK_JSONSCHEMA_VERSION already installed in $deploy"
else
    rm -rf "$deploy"
    python3 -m venv "$deploy"
    "$deploy/bin/pip" install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
    echo "kubernetes-validate $KUBERNETES_VALIDATE_VERSION and check-jsonschema $CHECK_JSONSCHEMA_VERSION installed in $deploy"
fi
if command -v kustomize >/dev/null; then
    kustomize version
elif command -v kubectl >/dev/null; then
    kubectl version --client 2>/dev/null | grep -i kustomize || true
else
    echo "warning: neither kustomize nor kubectl is on PATH: the deployment checks cannot render deploy/k8s" >&2
fi

SCHEMATHESIS_VERSION=4.32.5
venv=.tools/venv

if [[ -x $venv/bin/st ]] && "$venv/bin/st" --version 2>/dev/null | grep -qx "st, version $SCHEMATHESIS_VERSION"; then
    echo "schemathesis $SCHEMATHESIS_VERSION already installed in $venv"
    exit 0
fi

rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
"$venv/bin/st" --version
