"""Write output files whole or not at all.

Each file is written to a temporary name in the same folder and renamed into
place, so a reader (or a crash) never sees half a file.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from difflayers.errors import BadInput

LOG_NAME = "rsync-image-diff.log"
META_NAME = "rsync-image-diff.json"


@contextlib.contextmanager
def atomic_file(path: Path):
    """Yield a binary file that becomes ``path`` only if the block succeeds."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise BadInput(f"cannot write in {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        _own_like_folder(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _own_like_folder(path) -> None:
    """Give a file the owner of its folder when running as root.

    The kit's containers run as root; files they write into a bind-mounted
    folder would otherwise be root's, and a user could not remove them.
    """
    if os.geteuid() == 0:
        folder = os.stat(os.path.dirname(os.path.abspath(path)))
        os.chown(path, folder.st_uid, folder.st_gid)


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path} is missing: run rsync-image-diff first") from None
    except ValueError as exc:
        raise BadInput(f"{path} is not valid JSON ({exc}): run rsync-image-diff again") from None


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def sha256_of(handle) -> str:
    """Hex SHA-256 of what an open binary file still holds, read in blocks."""
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """Digest of a file (logs can be large)."""
    with open(path, "rb") as handle:
        return sha256_of(handle)
