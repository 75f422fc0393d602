#!/usr/bin/env bash
# The whole test suite on a fresh machine: a virtual environment with the package and every test
# dependency, the C++ core tests under AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz
# targets (corpus replay and a short run), then pytest.
# Fails if any test is skipped (a missing dependency must not hide a test).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NNCODEC_TEST_VENV:-.venv-test}"
JOBS="$(nproc 2>/dev/null || echo 2)"

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
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
fi
bash tests/fuzz/run_ci.sh "$PY"

echo "== Python tests"
cd tests  # import the installed package, not the source folder
NNCODEC_NO_SKIP=1 HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}" "../$PY" -m pytest -q -rs -p no:cacheprovider "$@"
