#!/usr/bin/env bash
# Install the LiteLLM proxy, pinned, into its OWN virtualenv (it brings ~150 dependencies; they
# must not land in the suite's environment). Idempotent: an existing, complete venv is kept.
#   GWC_LITELLM_VENV  where the venv goes (default: ~/.cache/gateway-conformance/litellm-<version>)
#   PYTHON            the interpreter to build it with (default: python3)
set -euo pipefail
LITELLM_VERSION=1.99.4   # verified: custom_auth_run_common_checks + enable_post_custom_auth_checks exist
PRISMA_VERSION=0.15.0    # without prisma the proxy answers 500 text/plain to a request with no key
VENV="${GWC_LITELLM_VENV:-$HOME/.cache/gateway-conformance/litellm-$LITELLM_VERSION}"
PY="${PYTHON:-python3}"

if [ -x "$VENV/bin/litellm" ] && "$VENV/bin/python" - "$LITELLM_VERSION" <<'PYEOF'
import sys, importlib.metadata as m
sys.exit(0 if m.version("litellm") == sys.argv[1] and m.version("prisma") else 1)
PYEOF
then
  echo "litellm $LITELLM_VERSION already installed in $VENV"
  exit 0
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
for attempt in 1 2 3; do
  if "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
       "litellm[proxy]==$LITELLM_VERSION" "prisma==$PRISMA_VERSION"; then
    echo "litellm $LITELLM_VERSION installed in $VENV"
    exit 0
  fi
  echo "pip install failed (attempt $attempt), retrying" >&2
  sleep $((attempt * 5))
done
echo "could not install litellm[proxy]==$LITELLM_VERSION into $VENV" >&2
exit 1
