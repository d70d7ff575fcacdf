# Sourced by demo.sh and test.sh: make .venv, installing Debian's python3-venv first if needed
# (Debian's own Python ships venv without ensurepip until that package is installed).
PYTHON="${PYTHON:-python3}"
as_root() { if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi; }
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    echo "installing python3-venv (Debian splits venv's pip bootstrap into its own package)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3-venv
    "$PYTHON" -m venv .venv
  fi
fi
