#!/bin/bash
# NEW: every kind of change from OLD (old.sh) at once.
set -euo pipefail
mkdir -p /srv/app && cd /srv/app
printf bbbb > same-size;        touch -d '2020-01-01 00:00:00' same-size   # same size, same mtime
printf xyz > other-size
printf m > mode-only;           chmod 755 mode-only
printf s > setuid;              chmod 4755 setuid
mkdir sticky-dir;               chmod 1777 sticky-dir
mkdir perm-dir;                 chmod 700 perm-dir
printf o > owner-only;          chown 0:0 owner-only
printf g > group-only;          chown 0:0 group-only
ln -s target-b retargeted
ln -s new-target new-link
ln -s does-not-exist dangling-link
printf now-a-file > link-to-file
ln -s file-to-link-target file-to-link
printf shared > linked-target;  ln linked-target new-name-of-linked-target
printf new > new-pair-a;        ln new-pair-a new-pair-b
printf pair > pair-a;           printf pair > pair-b                     # the pair is broken apart
mkdir -p file-to-dir && printf y > file-to-dir/y
printf now-a-file > dir-to-file
mkdir new-empty-dir
mkdir -p new/nested/deeper && printf n > new/nested/deeper/file
mkfifo fifo
mknod char-device c 1 3
for name in ' leading space' 'trailing space ' $'tab\there' $'new\nline' 'back\slash' 'literal\#012' \
            "quote's \"double\"" '*?[' '-leading-dash' 'arrow -> text' 'café' '🐳 whale' \
            "$(printf 'n%.0s' $(seq 250))" $'latin1-\351'; do
  printf '%s' "$name" > "$name"
done
chown -R 1000:50 'café'
printf keep > unchanged
