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
# The last reporter prints one plain closing line: passed, failed (tests that never finished, e.g. in a crashed fork,
# count as failed and are named), skipped.
npx vitest run --reporter=default --reporter=./test/reporters/closingLine.ts "$@"
