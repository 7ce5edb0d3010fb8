#!/usr/bin/env bash
# Install everything trackedit and its tests need, then materialise the sample clips.
# System packages (Debian/Ubuntu): Chromium for the browser tests of the web UI.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO=none; fi
    if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; } ||
            echo "setup: could not install Chromium with apt; the web-UI browser test needs it" >&2
    else
        echo "setup: install Chromium yourself to run the web-UI browser tests" >&2
    fi
fi
python -m pip install -q -e ".[all]"
python samples/make_samples.py
