#!/usr/bin/env bash
# A fuzzing campaign: each target in turn until it has used CPU_SECONDS of CPU time (one process
# at a time, niced), in rounds of at most 10 minutes (the last one only as long as the CPU time
# still missing) that all continue from the same working corpus WORKDIR/<target>/corpus (crash
# inputs go to WORKDIR/<target>/artifacts/). Seeds in tests/fuzz/corpus/<target>/ are read, never
# modified. Per target it prints the CPU time, executions (summed over rounds), the final edge
# coverage and corpus size. A crash stops that target; the campaign goes on with the next.
# Running it again on the same WORKDIR resumes: the rounds already there count. Needs the fuzzers
# built (see README.md), GNU time, and for the Python targets PYTHON: an interpreter with nncodec and
# atheris installed.
#
#   tests/fuzz/campaign.sh WORKDIR CPU_SECONDS [TARGET...]   targets: container codec entropy readers pickle json
set -uo pipefail
cd "$(dirname "$0")/../.."
WORK="$1"; CPU_SECONDS="$2"; shift 2
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(container codec entropy readers pickle json)
BUILD="${NNZ_FUZZ_BUILD:-build/fuzz}"
PY="${PYTHON:-python3}"
ROUND=600
for t in "${TARGETS[@]}"; do
  mkdir -p "$WORK/$t/corpus" "$WORK/$t/artifacts"
  case "$t" in
    readers) cmd=("$PY" tests/fuzz/fuzz_readers.py) ;;
    pickle | json) cmd=("$PY" tests/fuzz/fuzz_structured.py "$t") ;;
    *) cmd=("$BUILD/fuzz_$t") ;;
  esac
  extra=()
  case "$t" in pickle | json) extra=(-max_len=262144) ;; esac
  cpu=0; execs=0; round=0; status=0
  for f in "$WORK/$t"/time.*; do  # earlier rounds (resume)
    [ -e "$f" ] || continue
    round=$((round + 1))
    cpu=$(awk -v c="$cpu" 'END { print c + $1 + $2 }' "$f")
    n=$(awk '/stat::number_of_executed_units/ { print $2 }' "$WORK/$t/log.${f##*.}" | tail -1)
    execs=$((execs + ${n:-0}))
  done
  echo "== $t: until ${CPU_SECONDS} CPU seconds ($(date -u +%H:%M:%S))"
  while awk -v c="$cpu" -v l="$CPU_SECONDS" 'BEGIN { exit !(c < l) }' && [ $status = 0 ]; do
    round=$((round + 1))
    log="$WORK/$t/log.$round"
    seconds=$(awk -v c="$cpu" -v l="$CPU_SECONDS" -v r="$ROUND" 'BEGIN { s = int(l - c) + 1; print (s < r ? s : r) }')
    /usr/bin/time -o "$WORK/$t/time.$round" -f "%U %S" nice -n 10 "${cmd[@]}" "${extra[@]}" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$WORK/$t/artifacts/" \
      "$WORK/$t/corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1
    status=$?
    cpu=$(awk -v c="$cpu" 'END { print c + $1 + $2 }' "$WORK/$t/time.$round")
    execs=$((execs + $(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -1)))
  done
  [ $status = 0 ] || echo "   $t stopped with status $status: see $log and $WORK/$t/artifacts/"
  echo "   cpu ${cpu}s, ${execs} executions in ${round} rounds; last: $(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -1 | cut -c1-90)"
done
