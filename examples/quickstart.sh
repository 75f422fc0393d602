#!/usr/bin/env bash
# Quick start on a fresh machine: install nncodec into a virtual environment, then compress the
# bundled example model, list what is inside the .nnz, decode it and check the model came back
# bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NNCODEC_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check .
NNCODEC="$VENV/bin/nncodec"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp examples/models/tiny_cnn.onnx "$work/"
"$NNCODEC" encode "$work/tiny_cnn.onnx" -o "$work/tiny_cnn.nnz"
"$NNCODEC" info "$work/tiny_cnn.nnz"
"$NNCODEC" decode "$work/tiny_cnn.nnz" -o "$work/decoded.onnx"
cmp "$work/tiny_cnn.onnx" "$work/decoded.onnx" && echo "decoded model is identical to the original"
