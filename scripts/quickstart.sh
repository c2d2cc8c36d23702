#!/usr/bin/env bash
# The whole job on a fresh machine: set up .venv, train, convert and verify every artifact,
# and build the web page (models/web/; serve it with `python -m runtime serve models/web`).
# Extra arguments go to `python -m train` (e.g. --epochs 10, --data PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo
echo "== python -m train${*:+ $*}"
.venv/bin/python -m train "$@"
echo
echo "== python -m convert all"
.venv/bin/python -m convert all
echo
echo "== python -m runtime parity --report models/report"
.venv/bin/python -m runtime parity --report models/report
echo
echo "== python -m convert web"
.venv/bin/python -m convert web || echo "The web page was not built (see above); the models are ready." >&2
