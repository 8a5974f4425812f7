#!/usr/bin/env bash
# The change between revision-1 and revision-2: a few lines appended to
# sample-1.code, sample-4.code added, sample-2.code removed.
set -euo pipefail
cd "$(dirname "$0")/../sample-project"
# The tool container runs as root: leave the files to whoever owns the folder.
trap 'chown -R --reference=. -- .' EXIT

echo "adding some text to an existing file" >> sample-1.code
echo "adding some more text to an existing file" >> sample-1.code
echo "adding some more text to an existing file" >> sample-1.code
echo "adding some more text to an existing file" >> sample-1.code
echo "added some text contents to a new file" > sample-4.code
rm -f -- sample-2.code
echo "sample-project/ modified: sample-1.code appended to, sample-4.code added, sample-2.code removed"
