#!/usr/bin/env bash
# Installs lbhealth into .venv and diagnoses bundled broken examples offline: no Slack, no cloud.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

run() {
  echo "\$ lbhealth diagnose $*"
  set +e
  .venv/bin/lbhealth diagnose "$@"
  code=$?
  set -e
  # 0 = nothing failing, 1 = a failing finding (what these broken examples should give).
  if [ "$code" -gt 1 ]; then echo "lbhealth exited $code" >&2; exit "$code"; fi
  echo "(exit $code)"; echo
}

run default/alb-instance --from examples/selector-mismatch
run shop/web --from examples/targetport-mismatch
