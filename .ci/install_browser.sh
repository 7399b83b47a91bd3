#!/usr/bin/env bash
# Install Debian's chromium for the real-browser tests (tests/browser).
# Idempotent: does nothing when `chromium` is already on PATH.
# Playwright drives this system binary; `playwright install` is never used.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install_browser: chromium already present: $(command -v chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser: chromium missing and not root (no sudo); cannot install" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# fonts-liberation: readable text in screenshots; ca-certificates keeps apt happy.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    chromium fonts-liberation ca-certificates

command -v chromium >/dev/null 2>&1 || { echo "install_browser: chromium still not on PATH" >&2; exit 1; }
echo "install_browser: installed $(chromium --version 2>/dev/null || echo chromium)"
