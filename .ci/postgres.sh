#!/usr/bin/env bash
# Starts a local PostgreSQL for the many-machines fault test and prints the line .ci/run evals:
#   export ABLATE_TEST_PG_URL=postgresql://ablate@127.0.0.1:PORT/ablate
#   export ABLATE_TEST_PG_DIR=/tmp/ablate-pg.XXXXXX
# Prints nothing (and fails) where PostgreSQL is not installed; the test then skips with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(tests/faults/pg_start.sh)
echo "export ABLATE_TEST_PG_URL=$(echo "$out" | head -1)"
echo "export ABLATE_TEST_PG_DIR=$(echo "$out" | sed -n 2p)"  # .ci/run stops the server and removes it at exit
