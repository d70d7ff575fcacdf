#!/usr/bin/env bash
# Installs everything the tests need (redis-server, the package with its test extras in .venv),
# then runs ruff, the import-linter layer contracts of pyproject.toml and the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (the tests start their own private instance on a free port)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # The packaged service may start (or fail to, without systemd): the tests never use it.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server
fi

. scripts/_venv.sh
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/lint-imports  # the layer rules of DESIGN.md, as contracts in pyproject.toml
# pytest exits 5 when it collected no test: with `set -e` that fails this script too.
.venv/bin/python -m pytest -q "$@"
