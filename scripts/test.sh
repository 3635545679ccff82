#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL, RabbitMQ and object store servers (started and stopped
# by the tests themselves), after installing them if needed. Ends with one line: "N passed, N failed".
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/bootstrap.sh" || exit 1

# Results stay in TestResults/ (TRX files, and the screenshots the browser test takes), cleared at each run.
results="$root/TestResults"
rm -rf "$results"
mkdir -p "$results"

dotnet test ModelOps.sln --logger "trx" --results-directory "$results" "$@"
status=$?

# Count from the TRX files (one per test assembly) rather than from dotnet test's console output.
passed=0
failed=0
shopt -s nullglob
trx_files=("$results"/*.trx)
for trx in "${trx_files[@]}"; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* timeout="\([0-9]*\)".*/\1/p' <<<"$counters")
  a=$(sed -n 's/.* aborted="\([0-9]*\)".*/\1/p' <<<"$counters")
  run_failed=$(( ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0} ))
  # A test host that crashes (out of memory, a stack overflow) leaves counters with no failure but a failed outcome.
  if grep -q '<ResultSummary outcome="Failed"' "$trx" && [ "$run_failed" -eq 0 ]; then
    echo "$(basename "$trx"): the test run failed outside any test (see the output above)." >&2
    run_failed=1
  fi
  passed=$((passed + ${p:-0}))
  failed=$((failed + run_failed))
done

projects=(tests/*/*.Tests.csproj)
if [ "${#trx_files[@]}" -ne "${#projects[@]}" ]; then
  # A test assembly that crashed, or results that overwrote each other, must not pass as fewer tests.
  echo "Expected results from ${#projects[@]} test projects, found ${#trx_files[@]}." >&2
  failed=$((failed + 1))
fi

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "dotnet test failed (exit $status) without a failed test in the results: counted as one failure." >&2
  failed=1
fi

echo "${passed} passed, ${failed} failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
