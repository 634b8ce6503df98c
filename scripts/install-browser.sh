#!/usr/bin/env bash
# Chromium and its WebDriver for the browser tests (tests/test_browser.py, marker `browser`), from
# Debian's packages. Idempotent: does nothing when /usr/bin/chromium and chromedriver are there.
# Needs root (or sudo) and apt-get; elsewhere it says so and exits 0, and the tests skip.
set -euo pipefail
# ONNX Runtime Web for the page's in-browser webcam path (npm; never fails the set-up)
bash "$(dirname "${BASH_SOURCE[0]}")/vendor-onnxruntime-web.sh" || true
if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[install-browser] no apt-get here: install chromium and chromedriver yourself" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "[install-browser] not root and no sudo: browser tests will be skipped" >&2
    exit 0
  fi
fi
echo "[install-browser] installing chromium and chromium-driver" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
  chromium chromium-driver >/dev/null
