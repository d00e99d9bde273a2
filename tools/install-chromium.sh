#!/usr/bin/env bash
# Installs Debian's chromium (the real-browser test drives it through Playwright; no browser download).
# Called by `make test` when chromium is missing; needs root or password-less sudo.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
bash "$(dirname "$0")/apt-install.sh" chromium
command -v chromium >/dev/null 2>&1 || { echo "chromium is still missing after apt-get" >&2; exit 1; }
