"""difflayers optimize OLD NEW --path P -t TAG: OLD + one small layer, equal to NEW."""

import time

import difflayers
from difflayers import pipeline
from difflayers.cli.common import PathOption, output_dir, paths_of, platform_args, print_json
from difflayers.core import breakdown
from difflayers.core.chain import MAX_LAYERS, DecisionKind, Policy
from difflayers.core.reference import check_tag_reference
from difflayers.errors import ExitCode
from difflayers.methods import Method

# difflayers.yaml gives this command's defaults (path, method, tag, push, policy).
USES_PROJECT_FILE = True
HELP = "diff, make, verify [and push]: OLD + a small layer, equal to NEW, tagged TAG"
EXAMPLE = "difflayers optimize app:1 app:2 --path /app -t app:2-processed"
CHOICES = [m.value for m in Method if m is not Method.NEW_AS_BUILT]


def add_arguments(p) -> None:
    p.add_argument(
        "old", metavar="OLD", help="the image already pushed (local; or, with --push, only in that registry)"
    )
    p.add_argument(
        "new",
        metavar="NEW",
        help="the image just built (local; or, with --push, in that registry: one or many platforms)",
    )
    p.add_argument(
        "--path",
        action=PathOption,
        help="directory compared in both images, e.g. /app; repeat for their union (NEW may change "
        "nothing else); / is the whole image",
    )
    p.add_argument("-t", "--tag", help="tag of the processed image (default: the --push reference)")
    p.add_argument("--output", help="keep the log, Dockerfile or layer, and the archives in this folder")
    p.add_argument(
        "--replace-output", action="store_true", help="write into --output even if it holds files of yours"
    )
    p.add_argument(
        "--method",
        choices=CHOICES,
        default=Method.AUTO.value,
        help="dockerfile: build OLD + RUN rm + ADD; layer: assemble one layer with whiteouts and NEW's "
        "config; auto (default): dockerfile where it reproduces NEW, else layer",
    )
    p.add_argument(
        "--push",
        metavar="HOST/REPO:TAG",
        help="also put the image in OLD's registry: OLD's layers mounted, only the delta uploaded",
    )
    p.add_argument(
        "--new-if-no-old",
        action="store_true",
        help="with --push: when OLD is neither in this engine nor in the registry, push NEW as built "
        "(a chain's first revision), with its tree index; one command for every CI run",
    )
    p.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="of a multi-platform NEW in the registry: make deltas for these only (repeat, or comma "
        "separated); NEW's other platforms are published as built",
    )
    p.add_argument("--plain-http", action="store_true", help="talk HTTP to a registry not on loopback")
    defaults = Policy()
    chain = p.add_argument_group(
        "chain policy",
        "when OLD is itself processed, rebase instead of adding a delta once one of these is crossed "
        "(exit status 3 says a rebase was made)",
    )
    chain.add_argument(
        "--min-layers-left",
        type=int,
        default=defaults.min_layers_left,
        help=f"layers to keep free below moby's limit of {MAX_LAYERS} (default %(default)s)",
    )
    chain.add_argument(
        "--max-superseded-share",
        type=float,
        default=defaults.max_superseded_share,
        help="dead bytes in the chain's layers, as a share of NEW's tree (default %(default)s)",
    )
    chain.add_argument(
        "--max-deltas",
        type=int,
        default=defaults.max_deltas,
        help="deltas in one chain (default %(default)s)",
    )
    chain.add_argument(
        "--rebase-ok",
        action="store_true",
        help="exit 0 after a rebase too (for `set -e` pipelines; the output still says REBASED)",
    )
    chain.add_argument(
        "--rebase-to",
        choices=["base", "new"],
        default=defaults.rebase_to,
        help="base: one delta against the chain's full base (if in the engine); new: NEW as built "
        "(default %(default)s)",
    )
    p.add_argument(
        "--allow-config-drift",
        action="store_true",
        help="with --method dockerfile: build even if NEW drops config OLD has (OLD's values stay)",
    )
    p.add_argument(
        "--byte-exact",
        action="store_true",
        help="ship byte-code that differs from OLD's only in its embedded source mtime, with its "
        "source (default: keep OLD's pair, which is equivalent and smaller)",
    )
    p.add_argument("--skip-verify", action="store_true", help="tag without verifying (verify apart later)")
    p.add_argument(
        "--verify",
        choices=["construction", "full"],
        default="construction",
        help="how the image made is shown equal to NEW: by construction where the layer is made in the "
        "differ's pass (the layer method with BuildKit; reads nothing again), or full: both images "
        "read whole and compared (as `difflayers verify`), the default elsewhere",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def check(parser, args) -> None:
    """Flag combinations argparse cannot express, refused before any work."""
    if not args.path:
        parser.error("optimize needs --path (or `path:` in difflayers.yaml)")
    if not args.tag:
        if not args.push:
            parser.error("optimize needs -t/--tag or --push")
        args.tag = args.push
    check_tag_reference(args.tag, "-t")
    if args.push:
        check_tag_reference(args.push, "--push")
    elif args.new_if_no_old:
        parser.error("--new-if-no-old applies with --push")
    if args.allow_config_drift and args.method != Method.DOCKERFILE.value:
        parser.error(
            "--allow-config-drift applies to --method dockerfile only "
            "(auto and layer make NEW's config exactly)"
        )


def print_registry_summary(s: dict) -> None:
    """The summary of a run whose OLD's tree was its index in the registry
    (``methods.remote``): OLD only there, or here too with its index there."""
    if s["chain"]["decision"] == DecisionKind.FIRST.value:
        print(
            f"{s['tag']}: NEW pushed as built, the first revision ({'; '.join(s['chain']['reasons'])}), "
            f"{s['layers_added']} layers of {s['naive_bytes']:,} bytes; its tree index beside it "
            f"({s['new_index']['bytes']:,} bytes, {s['new']:,} entries): the next revision needs no OLD"
        )
        return
    old_index = s["old_index"]
    found = (
        f"built from OLD's layers ({old_index['layer_bytes_read']:,} bytes read, once: "
        "it is pushed beside OLD)"
        if old_index["built"]
        else f"found beside OLD ({old_index['bytes']:,} bytes); the result rests on it: OLD's layers were "
        "not read (--verify full reads them)"
    )
    where_old = "OLD's tree from its index" if s["old_in_engine"] else "OLD not in this engine"
    print(
        f"{s['tag']} ({s['method']} method, {where_old}): {s['new']} new, {s['changed']} changed, "
        f"{s['removed']} removed; {s['layers_added']} layer adding {s['bytes_added']:,} bytes instead of "
        f"{s['naive_bytes']:,} for NEW as built; "
        + ("verified: " + s["equality"] if s["verified"] else "NOT verified")
    )
    print(f"OLD's tree index: {found}")
    again = ", then again for a hardlink" if s["new_reads"] > 1 else ""
    where = "mounted in place" if s.get("new_read_from") == "mounts" else "through the engine's archive"
    print(
        f"read: NEW's tree once ({s['new_bytes_read']:,} bytes, {where}{again}), "
        f"the names in NEW's own layers ({s['new_layer_bytes_read']:,} bytes); "
        f"downloaded from the registry: {s['registry_bytes_downloaded']:,} bytes"
    )
    for line in breakdown.lines([breakdown.Row(**row) for row in s["by_cause"]]):
        print(line)
    if s["chain"]["decision"] != "delta":
        print(f"REBASED ({s['chain']['decision']}): " + "; ".join(s["chain"]["reasons"]))
    for note in s.get("notes", []):
        print(f"note: {note}")
    uploaded = "" if s["bytes_uploaded"] is None else f", {s['bytes_uploaded']:,} bytes uploaded"
    index = index_sent(s["new_index"])
    print(f"pushed {s['pushed']}{uploaded}{copied_text(s)}; NEW's tree index beside it ({index})")


def copied_text(s: dict) -> str:
    """OLD's layers a registry would not mount, copied through this machine: bytes
    sent too, beside the ones uploaded (ECR without blob mounting, Harbor, ...)."""
    if not s.get("layers_copied"):
        return ""
    return (
        f", {s['layers_copied']} of OLD's layers copied through this machine ({s['bytes_copied']:,} bytes: "
        "the registry would not mount them)"
    )


def index_sent(index: dict) -> str:
    """What the tree index pushed is and cost: whole, or a delta on OLD's."""
    if index.get("parts", 1) > 1:
        return f"{index['bytes']:,} bytes, kept as OLD's and a delta: {index['bytes_sent']:,} bytes sent"
    return f"{index['bytes']:,} bytes"


def print_platforms_summary(s: dict) -> None:
    """The summary of a multi-platform run (``methods.multiplatform``): a line per platform."""
    for f in s["platforms"]:
        if f["method"] == Method.NEW_AS_BUILT.value and f["chain"]["decision"] == DecisionKind.FIRST.value:
            what = (
                f"NEW as built ({f['chain']['reasons'][0]}): its layers ({f['naive_upload_bytes']:,} "
                "bytes) as NEW's own push sent them"
            )
        elif f["method"] == Method.NEW_AS_BUILT.value:
            what = "NEW as built, REBASED: " + "; ".join(f["chain"]["reasons"])
        else:
            what = (
                f"{f['new']} new, {f['changed']} changed, {f['removed']} removed; "
                f"{f['bytes_added']:,} bytes added, {f['bytes_uploaded']:,} uploaded instead of "
                f"{f['naive_upload_bytes']:,}{copied_text(f)}; verified: the layer applied to OLD's tree "
                "index equals NEW's"
            )
        print(f"{f['platform']}: {what}")
    for platform in s["dropped"]:
        print(f"{platform}: only in OLD, dropped (NEW has no such image)")
    if s["attestations_left_out"]:
        print(
            f"{s['attestations_left_out']} attestations of NEW as built left out "
            "(they describe NEW's manifests)"
        )
    print(
        f"pushed {s['pushed']}: for the deltas {s['bytes_uploaded']:,} bytes uploaded instead of "
        f"{s['naive_upload_bytes']:,}; downloaded from the registry: {s['registry_bytes_downloaded']:,} "
        "bytes; a tree index beside each platform"
    )


def print_summary(s: dict) -> None:
    if s.get("multi_platform"):
        print_platforms_summary(s)
        return
    if s.get("compared") == "tree index":
        print_registry_summary(s)
        return
    print(
        f"{s['tag']} ({s['method']} method): {s['new']} new, {s['changed']} changed, {s['removed']} removed; "
        f"delta {s['delta_bytes']:,} bytes; {s['layers_added']} layers adding {s['bytes_added']:,} bytes "
        f"instead of {s['naive_bytes']:,} for NEW as built "
        f"({s['naive_bytes'] - s['bytes_added']:,} avoided); "
        f"{_verified(s)}; {s['seconds']} s"
    )
    for line in breakdown.lines([breakdown.Row(**row) for row in s["by_cause"]]):
        print(line)
    chain = s["chain"]
    if chain["decision"] == "delta":
        print(
            f"chain: depth {chain['depth']}, {chain['layers']} layers, {chain['delta_bytes']:,} delta bytes, "
            f"{chain['superseded_bytes']:,} superseded bytes"
        )
    else:
        print(f"REBASED ({chain['decision']}): " + "; ".join(chain["reasons"]))
    for note in s.get("notes", []):
        print(f"note: {note}")
    if "pushed" in s:
        uploaded = "" if s["bytes_uploaded"] is None else f", {s['bytes_uploaded']:,} bytes uploaded"
        print(f"pushed {s['pushed']}: {s['layers_mounted']} layers of OLD mounted{copied_text(s)}{uploaded}")


def _verified(s: dict) -> str:
    if not s["verified"]:
        return "NOT verified"
    equivalent = s.get("equivalent_bytecode")
    how = " by construction" if s.get("check") == "construction" else ""
    return (
        f"verified equal to NEW{how} ({equivalent} byte-code files equivalent)"
        if equivalent
        else f"verified equal to NEW{how}"
    )


def run(args, engine, progress) -> int:
    summary = summarize(args, engine, progress)
    print_json(summary) if args.json else print_summary(summary)
    rebased = DecisionKind(summary["chain"]["decision"]).rebased
    return ExitCode.REBASED if rebased and not args.rebase_ok else ExitCode.OK


def summarize(args, engine, progress) -> dict:
    """Run the command's flow for parsed ``args``: the summary ``--json`` prints
    (and ``difflayers.optimize`` returns as a ``Result``)."""
    options = pipeline.Options(
        method=Method(args.method),
        allow_drift=args.allow_config_drift,
        skip_verify=args.skip_verify,
        verify_full=args.verify == "full",
        push_to=args.push,
        new_if_no_old=args.new_if_no_old,
        platforms=platform_args(args),
        paths=paths_of(args),
        plain_http=args.plain_http,
        byte_exact=args.byte_exact,
        certs_d=args.environment.certs_d,
        policy=Policy(args.min_layers_left, args.max_superseded_share, args.max_deltas, args.rebase_to),
    )
    with output_dir(args.output, args.replace_output) as output:
        summary = pipeline.optimize(
            engine, args.old, args.new, args.path, args.tag, output, options, progress
        )
    if paths_of(args):
        summary["paths"] = list(paths_of(args).members)
    summary["seconds"] = round(time.monotonic() - difflayers.STARTED, 1)  # the whole command's wall time
    return summary
