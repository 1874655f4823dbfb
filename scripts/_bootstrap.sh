# Sourced by the scripts in this directory: make sure .venv exists and holds the project
# with its test/bench extras, reinstalling only when pyproject.toml changed.
# Needs only a Python >= 3.11 with venv on PATH; everything else comes from PyPI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

_find_python() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: need Python >= 3.11 on PATH" >&2
  return 1
}

bootstrap() {
  if [[ ! -x $PY ]]; then
    echo "bootstrap: creating $VENV" >&2
    "$(_find_python)" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [[ ! -f $stamp ]]; then
    echo "bootstrap: installing the project and its test extras into .venv (first run only)" >&2
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[test,bench]" >&2
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}
