"""Read the differ's output back: metadata, plan, and a readable summary."""

from dataclasses import replace
from pathlib import Path

from difflayers.core import breakdown
from difflayers.core.diffrecord import DiffRecord
from difflayers.core.itemize import iter_lines, parse
from difflayers.core.names import decode_rsync_name, join_under, safe_relative
from difflayers.core.outputs import LOG_NAME, META_NAME, read_json, sha256_file
from difflayers.core.plan import Plan, make_plan, with_bytecode_policy
from difflayers.errors import BadInput, StaleOutput

SHOWN = 20


def _name(escaped: str) -> str:
    return safe_relative(decode_rsync_name(escaped.encode("ascii")))


def load(output_dir: Path, byte_exact: bool = False) -> tuple[DiffRecord, Plan]:
    """The differ's record and the plan parsed from its log, the byte-code rule
    applied (``byte_exact`` ships byte-code that is only equivalent to OLD's)."""
    output_dir = Path(output_dir)
    record = DiffRecord.from_json(read_json(output_dir / META_NAME))
    relink = [_name(name) for name in record.relink]
    try:
        if sha256_file(output_dir / LOG_NAME) != record.log_sha256:
            raise StaleOutput(
                f"{output_dir / LOG_NAME} changed after the diff was made; run rsync-image-diff again"
            )
        with open(output_dir / LOG_NAME, "rb") as log:
            plan = make_plan(parse(iter_lines(log)), relink)
        plan = with_bytecode_policy(
            plan,
            [_name(name) for name in record.equivalent_bytecode],
            {_name(pyc): _name(source) for pyc, (source, _) in record.bytecode_sources.items()},
            byte_exact,
        )
        plan = replace(plan, xattrs={_name(name): tuple(names) for name, names in record.xattrs.items()})
    except FileNotFoundError:
        raise BadInput(f"{output_dir / LOG_NAME} is missing: run rsync-image-diff again") from None
    return record, plan


def summary(record: DiffRecord, plan: Plan) -> str:
    """A few lines a person reads: what differs, or that nothing does."""
    path = record.path
    head = f"{record.old.ref} (OLD) -> {record.new.ref} (NEW), under {path}:"
    kept = (
        f"; {len(plan.kept_from_old)} byte-code files differ only in their embedded source mtime: "
        "OLD's are kept (equivalent)"
        if plan.kept_from_old
        else ""
    )
    if plan.is_empty:
        equal = "the trees are equal (content, type, mode, owner, links)"
        return f"{head}\n  no differences: {equal}{kept}."
    lines = [
        f"{head}",
        f"  {plan.created} new, {plan.changed} changed, {len(plan.removals)} removed{kept}",
    ]
    for rel in plan.additions[:SHOWN]:
        lines.append(f"  ship   {_printable(join_under(path, rel))}")
    for rel in plan.removals[:SHOWN]:
        lines.append(f"  remove {_printable(join_under(path, rel))}")
    hidden = max(0, len(plan.additions) - SHOWN) + max(0, len(plan.removals) - SHOWN)
    if hidden:
        lines.append(f"  ... and {hidden} more (see {LOG_NAME})")
    lines += breakdown.lines(breakdown.rows(record, plan))
    return "\n".join(lines)


def _printable(name: str) -> str:
    """Names with control or undecodable characters are shown quoted."""
    return name if name.isprintable() else repr(name)
