#!/usr/bin/env bash
# Builds the WebAssembly decoder with Debian's Emscripten (apt-get install emscripten) and puts
# it beside its loader, as web/nnz.wasm (a build output, not committed).
#
#   web/build.sh            -O3 (Release), in build/wasm
#   web/build.sh --size     -Os (MinSizeRel), in build/wasm-size
#
# No network: Emscripten builds its system libraries into its cache on first use (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
TYPE=Release
BUILD=build/wasm
case "${1:-}" in
  --size) TYPE=MinSizeRel; BUILD=build/wasm-size ;;
  "") ;;
  *) echo "usage: web/build.sh [--size]" >&2; exit 2 ;;
esac
command -v emcmake >/dev/null || { echo "web/build.sh: emcmake not found (apt-get install emscripten)" >&2; exit 1; }
# Debian's Emscripten runs its JavaScript tools with the node on PATH and needs Debian's acorn;
# a node not built by Debian (nodesource's) does not look in Debian's module folder by itself.
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
emcmake cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE="$TYPE" -DNNZ_BUILD_WASM=ON -DNNZ_BUILD_LIBRARY=OFF \
  -DNNZ_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target nnz_wasm >/dev/null
cp "$BUILD/nnz.wasm" web/nnz.wasm
echo "web/nnz.wasm: $(wc -c <web/nnz.wasm) bytes ($TYPE)"
