#!/usr/bin/env bash
# The property tests (the validator's, __tests__/validate/fuzz.test.ts, the archive sources',
# __tests__/transports/archive-fuzz.test.ts, and libdeflate level 1's round trip,
# __tests__/codec/deflate-fuzz.test.ts) run long: FUZZ_RUNS runs per property (default 5000,
# against 100, 25 and 20 in `npm test`) on FUZZ_SEED (default: a new seed each time,
# printed, so a failure replays with FUZZ_SEED=that).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/node_modules/.bin:$PATH"
export FUZZ_RUNS="${FUZZ_RUNS:-5000}"
export FUZZ_SEED="${FUZZ_SEED:-$(node -e 'console.log(Math.floor(Math.random() * 2 ** 31))')}"
echo "fuzz: FUZZ_RUNS=$FUZZ_RUNS FUZZ_SEED=$FUZZ_SEED"
NODE_OPTIONS=--experimental-vm-modules jest --testTimeout=86400000 __tests__/validate/fuzz.test.ts \
  __tests__/transports/archive-fuzz.test.ts __tests__/codec/deflate-fuzz.test.ts "$@"
