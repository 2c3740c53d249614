#!/usr/bin/env bash
# Install, migrate, load the fictional demo network and serve at http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv ""
export BROKER_DATABASE_URL="${BROKER_DATABASE_URL:-sqlite:///$PWD/var/broker.db}"
.venv/bin/broker db upgrade
.venv/bin/broker demo --if-empty --history 90
echo "sign in at http://${BROKER_HOST:-127.0.0.1}:${BROKER_PORT:-8000}/login"
exec .venv/bin/broker serve
