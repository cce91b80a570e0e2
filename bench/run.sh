#!/usr/bin/env bash
# Runs every benchmark and prints the figures docs/design.md quotes.
#   npm run bench
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "## start-up"
node dist/bench/startup.js

echo; echo "## compiler"
node dist/bench/compiler.js --runs 5

echo; echo "## decisions"
node dist/bench/generate-repo.js "$work/repo" 2>/dev/null
node dist/bin/gatehouse.js compile "$work/repo" -o "$work/bundle.json" 2>/dev/null
node dist/bench/decide.js "$work/bundle.json"

echo; echo "## SQL classification"
node dist/bench/sql-classify.js

echo; echo "## masking"
node dist/bench/masking.js

echo; echo "## PostgreSQL data path"
node dist/bench/postgres.js --seconds 10 --rounds 3

echo; echo "## audit store"
node dist/bench/audit-store.js

echo; echo "## SSH data path"
node dist/bench/ssh.js --rounds 9
