#!/usr/bin/env bash
# The whole test suite: type-check, then every test file. Services the
# end-to-end tests need are provisioned by test/e2e/services (installed from
# Debian packages when missing, started on free ports, stopped at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
npx tsc -p tsconfig.json
npx tsc -p tsconfig.build.json
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec "${files[@]}"
