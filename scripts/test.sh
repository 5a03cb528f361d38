#!/usr/bin/env bash
# The test command's second half (after scripts/bootstrap.sh): lint, typecheck, then the whole vitest suite
# against freshly started local services, which are stopped again however the tests end.
set -uo pipefail
cd "$(dirname "$0")/.."

export ECHO_DATA_DIR="${ECHO_DATA_DIR:-.data/test}"
started=0
cleanup() { if [ "$started" = 1 ]; then npx tsx scripts/services.ts stop || true; fi; }
trap cleanup EXIT

echo "== lint"; npx eslint . || exit 1
echo "== typecheck"; npx tsc -p . || exit 1
echo "== services"; started=1; npx tsx scripts/services.ts start || exit 1
echo "== tests"
results="$ECHO_DATA_DIR/vitest-results.json"
rm -f "$results"
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
status=$?
# One plain closing line, whatever the reporter printed above.
if [ -f "$results" ]; then
  node -e 'const r = require(process.argv[1]); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);' "$(realpath "$results")"
fi
exit $status
