#!/usr/bin/env bash
# `make test`'s pytest. The lab tests of each engine run in a pytest of their own, the
# two side by side (they mostly wait on their swarms: ~15 min each, a few minutes of
# CPU), beside the offline tests. Each one's output is printed whole once it is done.
# Extra arguments go to every pytest (e.g. scripts/test.sh -x).
set -u
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/pytest}
out=$(mktemp -d)
pids=()
stop() {
  # pytest turns SIGTERM into an interrupt and still tears its lab down.
  kill -TERM "${pids[@]}" 2>/dev/null
  wait
  rm -rf "$out"
  exit 130
}
trap stop INT TERM
run() {
  local name=$1
  shift
  "$PYTEST" -p no:cacheprovider "$@" >"$out/$name.log" 2>&1
  echo $? >"$out/$name.rc"
}
started=$(date +%s)
run offline -m "not lab" "$@" & pids+=($!)
run debian -m lab --lab-engine debian "$@" & pids+=($!)
run modern -m lab --lab-engine modern "$@" & pids+=($!)
wait
rc=0
for name in offline debian modern; do
  printf '\n======== %s tests ========\n' "$name"
  cat "$out/$name.log"
  code=$(cat "$out/$name.rc" 2>/dev/null || echo 1)
  [ "$code" -eq 0 ] || rc=1
  printf '======== %s tests: exit %s ========\n' "$name" "$code"
done
printf '\nall tests: %ss, exit %s\n' "$(($(date +%s) - started))" "$rc"
rm -rf "$out"
exit "$rc"
