#!/usr/bin/env bash
# The whole test suite (`npm test`). test/run.ts does the work: type-check and
# build, provision PostgreSQL and sshd (installed from Debian packages when
# missing, started on free ports, stopped at the end), run the test files.
# Arguments select test files or folders, e.g. `npm test -- test/gateway`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
exec node --import tsx test/run.ts "$@"
