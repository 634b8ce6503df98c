#!/usr/bin/env bash
# ONNX Runtime Web (npm package onnxruntime-web, MIT) for the page's in-browser webcam path:
# fetched with npm from the registry at set-up time, never from a CDN at run time. Only the four
# files the page loads are kept, in facepoints/serve/static/vendor/ort/ (git-ignored). Without
# them the page sends webcam frames to the server instead. Idempotent; exits 0 (with a note)
# where npm or the registry cannot be reached.
set -euo pipefail
version="${ORT_WEB_VERSION:-1.30.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$here/facepoints/serve/static/vendor/ort"
files=(ort.wasm.min.js ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm)
if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$version" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "[vendor-ort] npm not found: the page will use the server for the webcam" >&2
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack "onnxruntime-web@$version" --silent >/dev/null 2>&1); then
  echo "[vendor-ort] npm pack onnxruntime-web@$version failed: the page will use the server" >&2
  exit 0
fi
tar -xzf "$tmp"/onnxruntime-web-*.tgz -C "$tmp"
mkdir -p "$dest.new"
for f in "${files[@]}"; do cp "$tmp/package/dist/$f" "$dest.new/"; done
cp "$tmp/package/LICENSE" "$dest.new/LICENSE" 2>/dev/null || true
echo "$version" > "$dest.new/VERSION"
rm -rf "$dest" && mv "$dest.new" "$dest"
echo "[vendor-ort] onnxruntime-web $version in $dest" >&2
