#!/usr/bin/env bash
# The naive way to ship revision-2: build it FROM revision-1 with the same
# COPY . /app, which re-adds every file (and cannot remove sample-2.code).
set -euo pipefail
cd "$(dirname "$0")/../sample-project"
# The tool container runs as root: leave the files to whoever owns the folder.
trap 'chown -R --reference=. -- .' EXIT

cat > Dockerfile.based-on-revision-1 <<'DOCKERFILE'
FROM sample-project:revision-1
COPY . /app
DOCKERFILE
echo "sample-project/Dockerfile.based-on-revision-1 written"
