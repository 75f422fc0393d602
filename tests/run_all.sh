#!/usr/bin/env bash
# The whole test suite on a fresh machine: a virtual environment with the package and every test
# dependency, the C++ core tests under AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz
# targets (corpus replay and a short run), then pytest.
# Fails if any test is skipped (a missing dependency must not hide a test).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NNCODEC_TEST_VENV:-.venv-test}"
JOBS="$(nproc 2>/dev/null || echo 2)"

# Installs Debian packages a step needs (root, else sudo).
apt_install() {
  local sudo; sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip
# torch: the CPU build (only the tests that check files against real PyTorch use it).
"$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
"$PY" -m pip install -q --disable-pip-version-check ".[test]"

echo "== C++ core tests (ASan + UBSan)"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DNNZ_BUILD_TESTS=ON -DNNZ_SANITIZE=ON -DNNZ_WERROR=ON >/dev/null
cmake --build build/asan -j "$JOBS" >/dev/null
ctest --test-dir build/asan --output-on-failure

echo "== Fuzzing (clang libFuzzer + ASan/UBSan): corpus replay and a time-boxed run"
# Needs clang with its libFuzzer runtime; installed from Debian's packages when missing.
fuzzer_links() {
  command -v clang++ >/dev/null 2>&1 && printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' |
    clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o "build/nnz-fuzzer-probe" 2>/dev/null
}
if ! fuzzer_links; then
  echo "installing clang and libclang-rt-dev (apt-get) for the fuzzing step"
  apt_install clang libclang-rt-dev
fi
bash tests/fuzz/run_ci.sh "$PY"

echo "== WebAssembly decoder (Emscripten), tested in Node.js and headless Chromium by tests/web"
if ! command -v emcmake >/dev/null || ! command -v node >/dev/null || ! command -v chromium >/dev/null; then
  echo "installing emscripten, nodejs and chromium (apt-get) for the WebAssembly step"
  apt_install emscripten nodejs chromium
fi
bash web/build.sh

echo "== Python tests"
cd tests  # import the installed package, not the source folder
NNCODEC_NO_SKIP=1 HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}" "../$PY" -m pytest -q -rs -p no:cacheprovider "$@"
