#!/usr/bin/env bash
# CI fuzzing step (called by tests/run_all.sh): builds the libFuzzer targets with clang +
# ASan/UBSan, replays the committed seed corpus and regression inputs, then fuzzes every target
# for NNZ_FUZZ_SECONDS (default 40) from the seeds. The atheris target of the Python readers runs
# the same way with the given Python (an environment with nncodec installed; atheris is
# installed into it if missing). Any crash, sanitizer report, leak or timeout fails the step;
# its input is kept under build/fuzz-ci/<target>/ (make it a regression file: see README.md).
#
#   tests/fuzz/run_ci.sh [PYTHON]          needs clang++ and libclang-rt-dev (tests/run_all.sh installs them)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${1:-python3}"
SECS="${NNZ_FUZZ_SECONDS:-40}"
JOBS="$(nproc 2>/dev/null || echo 2)"
BUILD="${NNZ_FUZZ_BUILD:-build/fuzz}"
WORK=build/fuzz-ci
CXX="${NNZ_FUZZ_CXX:-clang++}"
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (apt-get install clang libclang-rt-dev)" >&2; exit 1; }

cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNZ_SANITIZE=ON \
  -DNNZ_BUILD_FUZZERS=ON -DNNZ_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target fuzz_container fuzz_codec fuzz_entropy >/dev/null

"$PY" -c "import atheris" 2>/dev/null || "$PY" -m pip install -q --disable-pip-version-check "atheris>=2.3"

rm -rf "$WORK"
for t in container codec entropy readers pickle json; do
  opts=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$WORK/$t/")
  case "$t" in
    readers) cmd=("$PY" tests/fuzz/fuzz_readers.py) ;;
    pickle | json) cmd=("$PY" tests/fuzz/fuzz_structured.py "$t"); opts+=(-max_len=262144) ;;  # big inputs
    *) cmd=("$BUILD/fuzz_$t") ;;
  esac
  inputs=(tests/fuzz/corpus/"$t")
  [ -d tests/fuzz/regressions/"$t" ] && inputs+=(tests/fuzz/regressions/"$t")
  mkdir -p "$WORK/$t/new"
  echo "== fuzz $t: replay of ${inputs[*]}"
  "${cmd[@]}" "${opts[@]}" -runs=0 "${inputs[@]}" >"$WORK/$t/replay.log" 2>&1 \
    || { tail -40 "$WORK/$t/replay.log"; exit 1; }
  echo "== fuzz $t: ${SECS}s"
  "${cmd[@]}" "${opts[@]}" -max_total_time="$SECS" -print_final_stats=1 "$WORK/$t/new" "${inputs[@]}" \
    >"$WORK/$t/fuzz.log" 2>&1 || { tail -40 "$WORK/$t/fuzz.log"; exit 1; }
  echo "   $(grep -E '^#[0-9]+' "$WORK/$t/fuzz.log" | tail -1 | cut -c1-80)"
done
echo "fuzz: all targets clean"
