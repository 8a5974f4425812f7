"""Read the differ's output back: metadata, plan, and a readable summary."""

from dataclasses import replace
from pathlib import Path

from difflayers.core.diffrecord import DiffRecord
from difflayers.core.itemize import iter_lines, parse
from difflayers.core.names import decode_rsync_name, join_under, safe_relative
from difflayers.core.outputs import LOG_NAME, META_NAME, read_json, sha256_file
from difflayers.core.plan import Plan, make_plan
from difflayers.errors import BadInput, StaleOutput

SHOWN = 20


def load(output_dir: Path) -> tuple[DiffRecord, Plan]:
    """The differ's record and the plan parsed from its log."""
    output_dir = Path(output_dir)
    record = DiffRecord.from_json(read_json(output_dir / META_NAME))
    relink = [safe_relative(decode_rsync_name(name.encode("ascii"))) for name in record.relink]
    try:
        if sha256_file(output_dir / LOG_NAME) != record.log_sha256:
            raise StaleOutput(
                f"{output_dir / LOG_NAME} changed after the diff was made; run rsync-image-diff again"
            )
        with open(output_dir / LOG_NAME, "rb") as log:
            plan = make_plan(parse(iter_lines(log)), relink)
        xattrs = {
            safe_relative(decode_rsync_name(name.encode("ascii"))): tuple(names)
            for name, names in record.xattrs.items()
        }
        plan = replace(plan, xattrs=xattrs)
    except FileNotFoundError:
        raise BadInput(f"{output_dir / LOG_NAME} is missing: run rsync-image-diff again") from None
    return record, plan


def summary(record: DiffRecord, plan: Plan) -> str:
    """A few lines a person reads: what differs, or that nothing does."""
    path = record.path
    head = f"{record.old.ref} (OLD) -> {record.new.ref} (NEW), under {path}:"
    if plan.is_empty:
        return f"{head}\n  no differences: the trees are equal (content, type, mode, owner, links)."
    lines = [
        f"{head}",
        f"  {plan.created} new, {plan.changed} changed, {len(plan.removals)} removed",
    ]
    for rel in plan.additions[:SHOWN]:
        lines.append(f"  ship   {_printable(join_under(path, rel))}")
    for rel in plan.removals[:SHOWN]:
        lines.append(f"  remove {_printable(join_under(path, rel))}")
    hidden = max(0, len(plan.additions) - SHOWN) + max(0, len(plan.removals) - SHOWN)
    if hidden:
        lines.append(f"  ... and {hidden} more (see {LOG_NAME})")
    return "\n".join(lines)


def _printable(name: str) -> str:
    """Names with control or undecodable characters are shown quoted."""
    return name if name.isprintable() else repr(name)
