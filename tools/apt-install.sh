#!/usr/bin/env bash
# Installs Debian packages with apt-get, for what `make test` needs beyond Python: the browser test's chromium
# (tools/install-chromium.sh) and Fashion-MNIST's IDX files (dataset-fashion-mnist). Needs root or password-less sudo.
#   bash tools/apt-install.sh PACKAGE...
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
echo "installing Debian's $* (apt-get)..."
$SUDO apt-get install -y -q "$@" >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "$@" >/dev/null; }
