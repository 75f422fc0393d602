#!/usr/bin/env bash
# Source coverage of the C++ fuzz targets' corpora: builds the replay programs with clang's
# source-based coverage (fuzzing mode, so checksums do not stop mutated inputs), replays
# WORKDIR/<target>/corpus plus the seeds, and prints llvm-cov's per-file report of csrc/.
#
#   tests/fuzz/coverage.sh WORKDIR [TARGET...]        (WORKDIR as given to campaign.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK="$(cd "$1" && pwd)"; shift
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(container codec entropy)
BUILD=build/fuzz-cov
LLVM_BIN="${LLVM_BIN:-$(dirname "$(readlink -f "$(command -v clang++)")")}"
cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
  -DNNZ_BUILD_TESTS=ON -DCMAKE_CXX_FLAGS="-fprofile-instr-generate -fcoverage-mapping -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION" \
  -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
for t in "${TARGETS[@]}"; do
  cmake --build "$BUILD" --target "replay_fuzz_$t" >/dev/null
  LLVM_PROFILE_FILE="$BUILD/$t.profraw" "$BUILD/replay_fuzz_$t" "$WORK/$t/corpus" "tests/fuzz/corpus/$t" >/dev/null
  "$LLVM_BIN/llvm-profdata" merge -sparse "$BUILD/$t.profraw" -o "$BUILD/$t.profdata"
  echo "== $t"
  "$LLVM_BIN/llvm-cov" report "$BUILD/replay_fuzz_$t" -instr-profile="$BUILD/$t.profdata" \
    -ignore-filename-regex='(tests/|/usr/)' | sed -e "s|$PWD/||"
done
