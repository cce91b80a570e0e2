#!/usr/bin/env bash
# The PostgreSQL and SSH data-path benchmarks, and the start-up figures, under
# the machine's Node.js and then under Node.js 24 LTS (from the npm registry,
# see .ci/node24), in one run. Native add-ons are rebuilt for each version.
#   bash bench/node-versions.sh
#   PG_ARGS="--seconds 5 --rounds 3" SSH_ARGS="--rounds 5" STARTUP_ARGS="--runs 5" bash bench/node-versions.sh
#   RUNTIMES=node24 bash bench/node-versions.sh      # one of them only
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
native="ssh2 cpu-features"
trap 'npm rebuild $native >/dev/null 2>&1 || true' EXIT
for runtime in ${RUNTIMES:-machine node24}; do
  if [ "$runtime" = node24 ]; then
    with=.ci/with-node24
    $with npm rebuild $native >/dev/null
  else
    with=env
  fi
  echo "# Node.js $($with node --version)"
  echo; echo "## start-up"
  # shellcheck disable=SC2086
  $with node dist/bench/startup.js ${STARTUP_ARGS:-}
  echo; echo "## PostgreSQL data path"
  # shellcheck disable=SC2086
  $with node dist/bench/postgres.js ${PG_ARGS:---seconds 10 --rounds 3}
  echo; echo "## SSH data path"
  # shellcheck disable=SC2086
  $with node dist/bench/ssh.js ${SSH_ARGS:---rounds 9}
  echo
done
