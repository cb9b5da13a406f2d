#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test (unit, and integration
# against real registries the tests start on 127.0.0.1) under Node 24.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh
# The action test runs the bundle as the runner would, so build it from the current source.
npm run package >/dev/null 2>&1 || { echo 'npm run package failed' >&2; npm run package; }
export LADING_TEST_TOOLS=1
PATH="$PWD/node_modules/.bin:$PATH"
results=$(mktemp)
status=0
NODE_OPTIONS=--experimental-vm-modules jest --json --outputFile="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  // A suite that fails to load runs no test; count it as a failure, or the line would hide it.
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  console.log(`${r.numPassedTests} passed, ${failed} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$results" || true
rm -f "$results"
exit $status
