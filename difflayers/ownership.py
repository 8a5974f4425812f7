"""Who made a resource, so that what a killed run left can be found and removed.

Every container and volume a run creates carries ``OWNER_LABEL`` from birth,
its temporary image tags carry the owner in the tag, and its temporary
folders hold a ``MARKER`` file. The owner is this machine, the process ID
and the process's start time (a PID alone can be reused). A later run, or
``difflayers prune``, removes what belongs to owners that are gone; an owner
on another machine (a remote engine shared by several) is never judged dead.
"""

import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

OWNER_LABEL = "io.github.difflayers.owner"
MARKER = ".difflayers-owner"
# A folder kept for the user (after a failed verification): swept by no run, removed by the user.
KEPT_MARKER = ".difflayers-kept"
TEMP_PREFIX = "difflayers-"
UNVERIFIED_REPOSITORY = "difflayers-unverified"


def _host() -> str:
    # Short and tag-safe: tags allow [A-Za-z0-9_.-] only.
    return "h" + hashlib.sha256(socket.gethostname().encode()).hexdigest()[:10]


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # The command name (field 2) may hold spaces; fields after its ')' are fixed.
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: str

    @classmethod
    def me(cls) -> "Owner":
        return cls(_host(), os.getpid(), _start_time(os.getpid()) or "0")

    @property
    def text(self) -> str:
        """As a label value and inside a tag: ``HOST-PID-STARTED``."""
        return f"{self.host}-{self.pid}-{self.started}"

    @classmethod
    def parse(cls, text: str) -> "Owner | None":
        parts = text.split("-")
        if len(parts) < 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])

    def is_gone(self) -> bool:
        """True only when this machine's process is known to have ended."""
        if self.host != _host():
            return False
        return _start_time(self.pid) != self.started


def owner_gone(text: str | None) -> bool:
    owner = Owner.parse(text or "")
    return owner is not None and owner.is_gone()


def make_temp_dir(owner: Owner) -> Path:
    """A new temporary folder holding the owner's marker."""
    folder = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{owner.pid}-"))
    (folder / MARKER).write_text(owner.text + "\n")
    return folder


def keep_folder(folder: Path, why: str) -> None:
    """Hand a temporary folder over to the user: its owner's marker goes (so no
    later run or ``prune`` sweeps it), a note of ``why`` it was kept stays."""
    (folder / KEPT_MARKER).write_text(why + "\nNo difflayers run removes this folder: remove it yourself.\n")
    (folder / MARKER).unlink(missing_ok=True)


def dead_temp_dirs(root: str | None = None) -> list:
    """Temporary folders of this kit whose owner is gone."""
    found = []
    with contextlib.suppress(OSError), os.scandir(root or tempfile.gettempdir()) as entries:
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                text = (Path(entry.path) / MARKER).read_text().strip()
            except FileNotFoundError:
                text = ""
            except OSError:
                continue  # not ours to read: left alone
            unmarked = Owner.parse(text) is None
            if owner_gone(text) or (unmarked and _killed_before_its_marker(Path(entry.path), entry.name)):
                found.append(Path(entry.path))
    return sorted(found)


def _killed_before_its_marker(folder: Path, name: str) -> bool:
    """A run killed between making its folder and writing the marker (CI saw
    one): no marker, not kept for the user, and no process of the PID its name
    holds runs here. A PID reused since is left alone, as an owner that lives."""
    pid = name[len(TEMP_PREFIX) :].split("-", 1)[0]
    return pid.isdigit() and not (folder / KEPT_MARKER).exists() and _start_time(int(pid)) is None


def folder_bytes(folder: Path) -> int:
    total = 0
    for top, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
