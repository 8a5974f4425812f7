#!/usr/bin/env bash
# Run the whole test suite: unit tests (no engine) and integration tests on
# the real Docker engine, Compose v2 and a local registry.
#   ./scripts/test.sh [pytest arguments]
# Makes .venv/ with the kit and its test dependencies on first use, and
# rebuilds the kit's tool image so the integration tests run today's code.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

if docker info >/dev/null 2>&1; then
  # shellcheck source=engine-env.sh
  . scripts/engine-env.sh
  docker compose -f shell.docker-compose.yml build --quiet
else
  echo "WARNING: no Docker engine answers; the integration tests will be skipped (CI fails instead)." >&2
fi
exec .venv/bin/python -m pytest "$@"
