#!/usr/bin/env bash
# Install everything the tests need and run the whole suite: SQLite, PostgreSQL, browser.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv dev

if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# axe-core, pinned, for the accessibility test (tests/test_accessibility_browser.py); the
# folder is git-ignored. A fresh machine may lack node and npm: Debian's packages do.
AXE_VERSION=4.10.2
if [ ! -f .cache/axe/node_modules/axe-core/axe.min.js ] \
    || ! grep -q "\"version\": \"$AXE_VERSION\"" .cache/axe/node_modules/axe-core/package.json; then
    if ! command -v npm >/dev/null; then
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    fi
    npm install --no-save --no-audit --no-fund --silent --prefix .cache/axe "axe-core@$AXE_VERSION"
fi
if ! command -v pg_isready >/dev/null || ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

.venv/bin/python -m pytest -n 2 --ignore=tests/test_plan_time_limits.py "$@"
# The planner's time limits are measured with both cores to themselves: beside another
# worker's CP-SAT, two solver threads on two cores share them with two more, and the wall
# time measures the scheduler rather than the planner.
exec .venv/bin/python -m pytest -p no:xdist tests/test_plan_time_limits.py "$@"
