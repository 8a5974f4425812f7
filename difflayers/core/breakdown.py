"""The delta's bytes by cause: real changes, build noise, and what was left out.

Read from the differ's record (``causes``, counted in the trees) and the plan
with the byte-code rule applied, so the rows say what this run ships. The
largest avoidable causes come with the fix in the build.
"""

from dataclasses import asdict, dataclass

from difflayers.core import bytecode, noise
from difflayers.core.names import escaped_text

CONTENT = "content"
BYTECODE_MTIME = "byte-code source mtime"
SOURCES_FOR_BYTECODE = "sources shipped for their byte-code"
MTIME_ONLY = "unchanged content, new mtime"

_WHAT = {
    CONTENT: "new and changed entries",
    BYTECODE_MTIME: "timestamp-based .pyc differing only in the embedded source mtime",
    SOURCES_FOR_BYTECODE: "unchanged .py files whose shipped .pyc needs their new mtime",
    MTIME_ONLY: "files whose only change is their mtime",
    **{cause: what for cause, (what, _) in noise.KNOWN.items()},
}
_FIX = {
    BYTECODE_MTIME: bytecode.FIX,
    SOURCES_FOR_BYTECODE: bytecode.FIX,
    **{cause: fix for cause, (_, fix) in noise.KNOWN.items()},
}


@dataclass(frozen=True)
class Row:
    cause: str
    entries: int
    bytes: int
    shipped: bool
    what: str
    fix: str = ""


def rows(record, plan) -> list:
    """One row per cause found, shipped ones first, each by bytes, largest first."""
    found = []
    for cause, (entries, size) in record.causes.items():
        if cause == BYTECODE_MTIME:
            shipped = not plan.kept_from_old
        else:
            shipped = cause != MTIME_ONLY
        found.append(Row(cause, entries, size, shipped, _WHAT.get(cause, cause), _FIX.get(cause, "")))
    if plan.sources_for_bytecode:
        sizes = {source: size for source, size in record.bytecode_sources.values()}
        size = sum(sizes.get(escaped_text(name), 0) for name in plan.sources_for_bytecode)
        cause = SOURCES_FOR_BYTECODE
        found.append(Row(cause, len(plan.sources_for_bytecode), size, True, _WHAT[cause], _FIX[cause]))
    return sorted(found, key=lambda row: (not row.shipped, -row.bytes, row.cause))


def as_json(found: list) -> list:
    return [asdict(row) for row in found]


def lines(found: list) -> list:
    """Readable lines, and the fix for each avoidable cause of over a tenth of the bytes."""
    if not found:
        return []
    total = sum(row.bytes for row in found) or 1
    out = ["  by cause (bytes of NEW's files):"]
    for row in found:
        state = "shipped " if row.shipped else "left out"
        out.append(f"    {state} {row.entries:>7,} entries {row.bytes:>14,} B  {row.cause}: {row.what}")
    for row in found:
        if row.fix and row.bytes * 10 >= total:
            out.append(f"  fix for {row.cause} ({row.bytes:,} B): {row.fix}")
    return out
