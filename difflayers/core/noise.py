"""Build noise the kit recognises cheaply: files whose bytes differ only by a
time the build wrote into them. They are shipped (their bytes differ), but the
breakdown names them apart from real changes, with the fix in the build.

Each check takes OLD's and NEW's versions as open binary files.
"""

import csv
import io
import zipfile
from itertools import zip_longest
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
GZIP_MTIME = slice(4, 8)
ZIP_MAGIC = b"PK\x03\x04"
RECORD_NAME = "RECORD"

# cause -> (what it is, the fix in the build)
KNOWN = {
    "gzip header time": (
        "gzip files that differ only in the time in their header",
        "compress with `gzip -n`",
    ),
    "zip member times": (
        "zip, jar and wheel files whose members differ only in their times",
        "set SOURCE_DATE_EPOCH for the tool that zips, or run strip-nondeterminism",
    ),
    "RECORD hashes": (
        "installed-package RECORD files listing the same files with other hashes or sizes",
        "they follow the files they list: fix those",
    ),
}


def _chunks(stream: BinaryIO, size: int = 1 << 16):
    while block := stream.read(size):
        yield block


def gzip_header_time(old: BinaryIO, new: BinaryIO) -> bool:
    """Two gzip streams whose only differing bytes are the header's MTIME."""
    head_old, head_new = old.read(10), new.read(10)
    if head_old[:2] != GZIP_MAGIC or head_new[:2] != GZIP_MAGIC or len(head_old) < 10:
        return False
    if head_old[GZIP_MTIME] == head_new[GZIP_MTIME]:
        return False
    if head_old[:4] + head_old[8:] != head_new[:4] + head_new[8:]:
        return False
    return all(a == b for a, b in zip_longest(_chunks(old), _chunks(new)))


def zip_member_times(old: BinaryIO, new: BinaryIO) -> bool:
    """Two zip archives with the same members (names, sizes, CRCs) whose times differ."""
    if old.read(4) != ZIP_MAGIC or new.read(4) != ZIP_MAGIC:
        return False
    try:
        with zipfile.ZipFile(old) as a, zipfile.ZipFile(new) as b:
            left, right = a.infolist(), b.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False

    def members(infos):
        return [(i.filename, i.CRC, i.file_size, i.compress_size) for i in infos]

    return members(left) == members(right) and [i.date_time for i in left] != [i.date_time for i in right]


def record_hashes(old: BinaryIO, new: BinaryIO) -> bool:
    """Two wheel RECORD files (path,hash,size rows) that list the same paths."""
    try:
        rows = [list(csv.reader(io.TextIOWrapper(f, encoding="utf-8"))) for f in (old, new)]
    except (UnicodeDecodeError, csv.Error):
        return False
    paths = [sorted(row[0] for row in table if row) for table in rows]
    return paths[0] == paths[1] and all(len(row) == 3 for table in rows for row in table if row)


def recognise(name: str, open_old, open_new) -> str | None:
    """The noise cause of a changed regular file, or None; ``open_old`` and
    ``open_new`` open each version for reading (each check reads from the start)."""
    checks = []
    base = name.rsplit("/", 1)[-1]
    parent = name.rsplit("/", 2)[-2] if name.count("/") else ""
    if base == RECORD_NAME and parent.endswith(".dist-info"):
        checks.append(("RECORD hashes", record_hashes))
    checks += [("gzip header time", gzip_header_time), ("zip member times", zip_member_times)]
    for cause, check in checks:
        with open_old() as old, open_new() as new:
            if check(old, new):
                return cause
    return None
