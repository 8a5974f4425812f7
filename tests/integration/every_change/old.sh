#!/bin/bash
# OLD's side of every kind of change the kit must reproduce (see new.sh).
set -euo pipefail
mkdir -p /srv/app && cd /srv/app
printf aaaa > same-size;        touch -d '2020-01-01 00:00:00' same-size
printf x > other-size
printf gone > removed-file
mkdir removed-empty-dir
mkdir -p removed-deep/a/b/c && printf deep > removed-deep/a/b/c/file
printf m > mode-only;           chmod 644 mode-only
printf s > setuid;              chmod 755 setuid
mkdir sticky-dir;               chmod 755 sticky-dir
mkdir perm-dir;                 chmod 755 perm-dir
printf o > owner-only;          chown 1000:1000 owner-only
printf g > group-only;          chown 0:1000 group-only
ln -s target-a retargeted
ln -s somewhere removed-link
ln -s was-link-now-file link-to-file
printf f > file-to-link
printf shared > linked-target
printf pair > pair-a;           ln pair-a pair-b
printf f > file-to-dir
mkdir -p dir-to-file/inner && printf x > dir-to-file/inner/x
printf odd > $'gone\nwith newline'
printf odd > $'gone "quoted" \\ $HOME'
printf keep > unchanged
