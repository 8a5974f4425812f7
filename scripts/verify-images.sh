#!/usr/bin/env bash
# Compare two images file for file (content, type, mode, owner, links) and in
# runtime config, without rsync. Exit 0 when equal, 1 when not.
#   docker-compose -f shell.docker-compose.yml -f process-image-diff.docker-compose.yml run --rm shell ./verify-images.sh IMAGE_A IMAGE_B [--path /app]
set -euo pipefail
exec python3 -m difflayers verify "$@"
