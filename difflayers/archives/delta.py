"""Write the delta archive: NEW's entries named by the plan, nothing else.

The source is a tar stream of NEW's tree as the engine's archive endpoint
returns it (members named ``<basename>/...``); it is read once, in order, so
memory stays flat however large the tree. Entries keep NEW's type, mode,
numeric owner, mtime, link target, hardlinks and xattrs.
"""

import posixpath
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from difflayers.archives.fstree import tar_reader
from difflayers.archives.tarstream import open_tar
from difflayers.core.names import join_under, safe_relative
from difflayers.core.plan import Plan
from difflayers.errors import StaleOutput, UnsafePath, XattrNotCarried

KEPT_PAX_PREFIXES = ("SCHILY.xattr.", "LIBARCHIVE.xattr.")


@dataclass
class DeltaStats:
    entries: int = 0
    content_bytes: int = 0


def relative_name(member_name: str, base: str) -> str:
    """A member's path relative to the tree root (members are ``base/...``)."""
    if member_name == base:
        return "."
    if not member_name.startswith(base + "/"):
        raise UnsafePath(f"archive member {member_name!r} is outside {base!r}")
    return safe_relative(member_name[len(base) + 1 :])


def clean_member(member: tarfile.TarInfo, root: str, rel: str, target) -> None:
    """Rename a member of NEW's stream to its path from ``/`` (``root`` is the
    tree path without its leading slash); keep numeric owners and xattrs."""
    member.name = join_under(root, rel)
    if target is not None:
        member.linkname = join_under(root, target)
    member.uname = member.gname = ""
    # PAX path/linkpath/size records of the source would override the
    # renamed fields on extraction; only xattrs are carried over.
    member.pax_headers = {k: v for k, v in member.pax_headers.items() if k.startswith(KEPT_PAX_PREFIXES)}


def check_xattrs_carried(member: tarfile.TarInfo, rel: str, plan: Plan) -> None:
    """Refuse to ship ``rel`` without an extended attribute NEW has on it.

    The differ saw NEW's tree as a container does; the engine's archive may
    carry fewer (moby's carries security.capability only), and an entry
    written without one would make the processed image differ from NEW.
    """
    wanted = plan.xattrs.get(rel)
    if not wanted:
        return
    carried = {
        key[len(prefix) :]
        for key in member.pax_headers
        for prefix in KEPT_PAX_PREFIXES
        if key.startswith(prefix)
    }
    missing = [name for name in wanted if name not in carried]
    if missing:
        raise XattrNotCarried(
            f"NEW's {member.name!r} has the extended attribute {missing[0]}, which the engine's archives "
            "do not carry (Docker's carry security.capability only), so neither method can ship it: "
            "drop the attribute from NEW, or ship NEW as built"
        )


def copy_member(out: tarfile.TarFile, src: tarfile.TarFile, member: tarfile.TarInfo, stats) -> None:
    """Write ``member`` of the stream ``src`` to ``out``, its content with it,
    and count it in ``stats`` (``entries``, ``content_bytes``)."""
    if member.isreg():
        with src.extractfile(member) as content:
            out.addfile(member, content)
        stats.content_bytes += member.size
    else:
        out.addfile(member)
    stats.entries += 1


def write_delta(source: BinaryIO, dest: BinaryIO, *, tree_path: str, plan: Plan) -> DeltaStats:
    """Copy the plan's additions from ``source`` (a tar stream, or a tar-like
    reader such as ``fstree.FsTree``) to ``dest``.

    Member names become absolute-from-root (``app/x`` for ``/app/x``) so the
    archive is added at ``/``. Hardlinks whose first name is unchanged stay
    links to that name, which OLD already holds; unchanged names linked to a
    file shipped here are shipped as links too (a header each, no content), so
    groups stay whole. Every addition must be found: a missing one means the
    log was made from another NEW.
    """
    base = posixpath.basename(tree_path)
    root = tree_path.lstrip("/")
    wanted = set(plan.additions)
    found: set = set()
    shipped_files: set = set()
    stats = DeltaStats()
    with (
        tar_reader(source) as src,
        open_tar(fileobj=dest, mode="w|") as out,
    ):
        for member in src:
            rel = relative_name(member.name.rstrip("/") or member.name, base)
            target = relative_name(member.linkname, base) if member.islnk() else None
            # An unchanged name hardlinked to a file this archive ships anew
            # must be linked again, or it would keep the old inode alone.
            if rel not in wanted and target not in shipped_files:
                continue
            found.add(rel)
            clean_member(member, root, rel, target)
            check_xattrs_carried(member, rel, plan)
            if member.isreg():
                shipped_files.add(rel)
            copy_member(out, src, member, stats)
    missing = sorted(wanted - found)
    if missing:
        raise StaleOutput(
            f"{len(missing)} entries of the plan are not in NEW's tree (first: {missing[0]!r}); "
            "the log was made from another image: run rsync-image-diff again"
        )
    return stats
