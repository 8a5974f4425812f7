"""difflayers diff OLD NEW --path P: what changed (the plan only, nothing made)."""

from difflayers import pipeline
from difflayers.cli.common import PathOption, output_dir, paths_of, print_json
from difflayers.comparing import difflog
from difflayers.core import breakdown
from difflayers.core.scope import refuse_outside_paths
from difflayers.errors import ExitCode

# difflayers.yaml gives this command's defaults (path, method, tag, push, policy).
USES_PROJECT_FILE = True
HELP = "what changed between OLD and NEW under --path (the plan only)"
EXAMPLE = "difflayers diff app:1 app:2 --path /app --json"


def add_arguments(p) -> None:
    p.add_argument("old", metavar="OLD", help="the image already pushed (local)")
    p.add_argument("new", metavar="NEW", help="the image just built (local)")
    p.add_argument(
        "--path",
        action=PathOption,
        help="directory compared in both images, e.g. /app; repeat for their union",
    )
    p.add_argument("--output", help="keep the log and its record in this folder")
    p.add_argument(
        "--replace-output", action="store_true", help="write into --output even if it holds files of yours"
    )
    p.add_argument(
        "--byte-exact",
        action="store_true",
        help="ship byte-code that differs from OLD's only in its embedded source mtime, with its "
        "source (default: keep OLD's pair, which is equivalent and smaller)",
    )
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def check(parser, args) -> None:
    if not args.path:
        parser.error("diff needs --path (or `path:` in difflayers.yaml)")


def as_json(found: pipeline.Diff) -> dict:
    record, plan = found.record, found.plan
    return {
        "old": {"ref": record.old.ref, "id": record.old.id},
        "new": {"ref": record.new.ref, "id": record.new.id},
        "path": record.path,
        "new_entries": plan.created,
        "changed_entries": plan.changed,
        "ship": list(plan.additions),
        "remove": list(plan.removals),
        "kept_from_old": list(plan.kept_from_old),
        "sources_for_bytecode": list(plan.sources_for_bytecode),
        "by_cause": breakdown.as_json(breakdown.rows(record, plan)),
    }


def run(args, engine, progress) -> int:
    paths = paths_of(args)
    pipeline.require_paths(engine, args.new, paths)
    with output_dir(args.output, args.replace_output) as output:
        found = pipeline.diff(engine, args.old, args.new, args.path, output, progress, args.byte_exact)
    refuse_outside_paths(paths, found.plan)  # what optimize would refuse (exit 2)
    if args.json:
        print_json({**as_json(found), **({"paths": list(paths.members)} if paths else {})})
    else:
        print(difflog.summary(found.record, found.plan))
    return ExitCode.OK
