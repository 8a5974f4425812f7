#!/usr/bin/env bash
# The change that makes the next revision of the sample project.
#   ./modify-sample-project.sh        revision-1 -> revision-2: a few lines
#                                     appended to sample-1.code, sample-4.code
#                                     added, sample-2.code removed
#   ./modify-sample-project.sh N      (N >= 3) revision N-1 -> N, for chains:
#                                     a line appended to sample-1.code,
#                                     sample-N.code added, sample-(N-1).code
#                                     removed, and every 4th revision one large
#                                     file rewritten (same size, new bytes)
set -euo pipefail
revision=${1:-2}
case $revision in '' | *[!0-9]*) echo "usage: $0 [REVISION >= 2]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/../sample-project"
# The tool container runs as root: leave the files to whoever owns the folder.
trap 'chown -R --reference=. -- .' EXIT

if [ "$revision" -eq 2 ]; then
  echo "adding some text to an existing file" >> sample-1.code
  echo "adding some more text to an existing file" >> sample-1.code
  echo "adding some more text to an existing file" >> sample-1.code
  echo "adding some more text to an existing file" >> sample-1.code
  echo "added some text contents to a new file" > sample-4.code
  rm -f -- sample-2.code
  echo "sample-project/ modified: sample-1.code appended to, sample-4.code added, sample-2.code removed"
  exit 0
fi

echo "revision $revision" >> sample-1.code
echo "contents of revision $revision" > "sample-$((revision + 2)).code"
rm -f -- "sample-$((revision + 1)).code"
changed="sample-1.code appended to, sample-$((revision + 2)).code added, sample-$((revision + 1)).code removed"
if [ $((revision % 4)) -eq 0 ]; then
  number=$(( (revision / 4) % 5 + 1 ))
  python3 - "$number" "$revision" <<'PY'
import os
import random
import sys

number, revision = sys.argv[1], sys.argv[2]
name = f"an-important-file-{number}"
size = os.path.getsize(name)
with open(name, "wb") as handle:
    handle.write(random.Random(f"difflayers-sample-{number}-r{revision}").randbytes(size))
PY
  changed="$changed, an-important-file-$number rewritten"
fi
echo "sample-project/ modified for revision $revision: $changed"
