#!/usr/bin/env bash
# From the diff in output/ (made by rsync-image-diff.docker-compose.yml),
# write output/Dockerfile, output/delta.tar and output/files-to-remove.list.
# Runs in the tool container with the engine's socket:
#   docker-compose -f shell.docker-compose.yml -f process-image-diff.docker-compose.yml run --rm shell ./generate-dockerfile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m difflayers generate --output output
