#!/usr/bin/env bash
# Make sure Debian's `chromium` is installed: the tests that load our HTML pages in a
# real headless browser need it (tests/check/test_spacetime_chromium.py runs this).
# Idempotent: does nothing when chromium is already on PATH.
#   exit 0  chromium is on PATH
#   exit 3  cannot install here: no apt-get (not Debian), or neither root nor sudo
#   other   apt-get failed (its output says why)
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "_ensure_chromium: no apt-get here (not Debian?): install a chromium yourself" >&2
  exit 3
fi
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "_ensure_chromium: installing chromium needs root or passwordless sudo" >&2
  exit 3
fi

echo "_ensure_chromium: installing Debian's chromium (first run only)" >&2
${SUDO[@]+"${SUDO[@]}"} apt-get update -qq
${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium >&2
command -v chromium >/dev/null 2>&1
