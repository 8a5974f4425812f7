#!/usr/bin/env bash
# Create sample-project/: five large files (3, 1, 4, 2 and 6 MiB), three small
# .code files and a Dockerfile that copies them all to /app. The large files
# hold pseudo-random bytes from a fixed seed: real assets do not compress, and
# zero-filled files would hide on push how much a naive rebuild sends.
set -euo pipefail
cd "$(dirname "$0")/../sample-project"
# The tool container runs as root: leave the files to whoever owns the folder.
trap 'chown -R --reference=. -- .' EXIT

# Only the files this walkthrough makes are touched.
rm -f -- sample-4.code Dockerfile.based-on-revision-1

python3 - <<'PY'
import random

MIB = 1024 * 1024
for number, mebibytes in enumerate((3, 1, 4, 2, 6), start=1):
    data = random.Random(f"difflayers-sample-{number}").randbytes(mebibytes * MIB)
    with open(f"an-important-file-{number}", "wb") as handle:
        handle.write(data)
PY

echo "some text contents" > sample-1.code
echo "some more text contents" > sample-2.code
echo "even some more text contents" > sample-3.code

cat > Dockerfile <<'DOCKERFILE'
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY . /app
DOCKERFILE

echo "sample-project/ generated:"
ls -l
