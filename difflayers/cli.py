"""The ``difflayers`` command: one command per job, for people and pipelines.

Exit codes: 0 done (or equal), 1 verification failed (images differ), 2 bad
input or engine error, 3 done but rebased (chain policy), 130 interrupted. Errors are one line on stderr; set
DIFFLAYERS_DEBUG=1 for a traceback.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from . import __version__
from .chain import MAX_LAYERS, Policy
from .errors import DiffLayersError

# optimize made the image, but as a rebase (see chain.py): pushing it costs more.
REBASED = 3

DESCRIPTION = """\
Ship a Docker image update as the image you already pushed (OLD) plus one
small layer of what changed, instead of a whole new COPY layer.

  difflayers optimize app:1 app:2 --path /app -t app:2-processed
  difflayers diff app:1 app:2 --path /app
  difflayers verify app:2 app:2-processed
  difflayers report app:2-processed --base app:1 --new app:2

OLD and NEW must be in the local engine (DOCKER_HOST is honoured)."""

INTERNAL = {
    "diff-trees": "(compose) compare the trees Compose exposed: the differ service",
    "summarize": "(compose) print what the last diff found: the result service",
    "generate": "(compose) write the delta archive, removal list and Dockerfile",
    "compare-trees": "(internal) compare /trees/old and /trees/new into /out",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="difflayers", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"difflayers {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def images(p, a="OLD", b="NEW"):
        p.add_argument(a.lower(), metavar=a, help=f"{a} image (local)")
        p.add_argument(b.lower(), metavar=b, help=f"{b} image (local)")

    p = sub.add_parser("optimize", help="diff, generate, build and verify: OLD + a small layer, tagged TAG")
    images(p)
    p.add_argument("--path", required=True, help="directory compared in both images, e.g. /app")
    p.add_argument("-t", "--tag", help="tag of the processed image (default: the --push reference)")
    p.add_argument("--output", help="keep the log, Dockerfile or layer, and the archives in this folder")
    p.add_argument(
        "--method",
        choices=["auto", "dockerfile", "layer"],
        default="auto",
        help="dockerfile: build OLD + RUN rm + ADD; layer: assemble one layer with whiteouts and NEW's "
        "config; auto (default): dockerfile where it reproduces NEW, else layer",
    )
    p.add_argument(
        "--push",
        metavar="HOST/REPO:TAG",
        help="also put the image in OLD's registry: OLD's layers mounted, only the delta uploaded",
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
        "--rebase-to",
        choices=["base", "new"],
        default=defaults.rebase_to,
        help="base: one delta against the chain's full base (if in the engine); new: NEW as built "
        "(default %(default)s)",
    )
    p.add_argument(
        "--allow-config-drift", action="store_true", help="(dockerfile method) build even if NEW drops config"
    )
    p.add_argument("--skip-verify", action="store_true", help="tag without verifying (verify apart later)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("diff", help="what changed between OLD and NEW under --path (the plan only)")
    images(p)
    p.add_argument("--path", required=True, help="directory compared in both images, e.g. /app")
    p.add_argument("--output", help="keep the log and its metadata in this folder")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")

    p = sub.add_parser("verify", help="are two images equal, file for file and in config? (exit 1 if not)")
    images(p, "IMAGE_A", "IMAGE_B")
    p.add_argument("--path", help="compare only this directory (default: the whole filesystem)")

    p = sub.add_parser(
        "report", help="layers and bytes IMAGE adds on top of --base; without --base, the chain IMAGE records"
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--base", help="the image IMAGE was made on (OLD)")
    p.add_argument("--new", help="NEW as built, to show what pushing it would have cost")
    p.add_argument("--json", action="store_true")

    for name, text in INTERNAL.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "--output", default=os.environ.get("DIFFLAYERS_OUTPUT", "output"), help="output folder"
        )
        if name == "compare-trees":
            p.add_argument("--path", required=True)
            p.add_argument("--old", required=True, help="JSON {ref, id}")
            p.add_argument("--new", required=True, help="JSON {ref, id}")
    return parser


@contextlib.contextmanager
def _output_dir(asked):
    """The folder asked for, or a temporary one removed afterwards."""
    if asked:
        yield Path(asked)
        return
    folder = tempfile.mkdtemp(prefix="difflayers-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _plan_json(meta, plan) -> dict:
    return {
        "old": meta["old"],
        "new": meta["new"],
        "path": meta["path"],
        "new_entries": plan.created,
        "changed_entries": plan.changed,
        "ship": list(plan.additions),
        "remove": list(plan.removals),
    }


def _report(client, image, base, new) -> dict:
    from . import pipeline

    layers = pipeline.layers_above(client, image, base)
    figures = {
        "image": image,
        "base": base,
        "layers": [{"created_by": e.get("CreatedBy", ""), "bytes": e["Size"]} for e in layers],
        "bytes_added": sum(e["Size"] for e in layers),
    }
    if new:
        figures["new"] = new
        figures["naive_bytes"] = pipeline.naive_bytes(client, new, base)
        figures["bytes_saved"] = figures["naive_bytes"] - figures["bytes_added"]
    return figures


def _print_report(figures: dict) -> None:
    print(f"{figures['image']} on top of {figures['base']}:")
    print(f"  {'BYTES':>12}  CREATED BY")
    for layer in figures["layers"]:
        print(f"  {layer['bytes']:>12,}  {layer['created_by'][:90]}")
    print(f"  {figures['bytes_added']:>12,}  in all")
    if "naive_bytes" in figures:
        print(f"  {figures['naive_bytes']:>12,}  pushing {figures['new']} as built would send")
        print(f"  {figures['bytes_saved']:>12,}  saved")


def _print_chain(f: dict) -> None:
    if not f["depth"]:
        print(f"{f['image']} records no chain of deltas: it is a full image ({f['layers']} layers).")
        print("Give --base OLD to see the layers it adds on top of OLD.")
        return
    print(f"{f['image']}: {f['depth']} deltas on {f['base'][:19]} ({f['base_layers']} layers)")
    print(f"  {'DEPTH':>5}  {'NEW AS BUILT':<19}  {'DELTA BYTES':>13}  {'SUPERSEDED':>13}  LAYERS")
    for r in f["revisions"]:
        print(
            f"  {r['depth']:>5}  {r['new'][:19]:<19}  {r['delta_bytes']:>13,}  {r['superseded_bytes']:>13,}  {r['layers']}"
        )
    print(f"  {'all':>5}  {'':<19}  {f['delta_bytes']:>13,}  {f['superseded_bytes']:>13,}")
    print(f"  layers: {f['layers']} of at most {f['max_layers']}")
    about = "" if f["new_as_built_exact"] else "about "
    print(
        f"  a fresh pull fetches {f['fresh_pull_bytes']:,} bytes; NEW as built would be "
        f"{about}{f['new_as_built_pull_bytes']:,}"
    )


def _print_summary(s: dict) -> None:
    print(
        f"{s['tag']} ({s['method']} method): {s['new']} new, {s['changed']} changed, {s['removed']} removed; "
        f"delta {s['delta_bytes']:,} bytes; {s['layers_added']} layers adding {s['bytes_added']:,} bytes "
        f"instead of {s['naive_bytes']:,} for NEW as built ({s['naive_bytes'] - s['bytes_added']:,} avoided); "
        f"{'verified equal to NEW' if s['verified'] else 'NOT verified'}; {s['seconds']} s"
    )
    chain = s["chain"]
    if chain["decision"] == "delta":
        print(
            f"chain: depth {chain['depth']}, {chain['layers']} layers, {chain['delta_bytes']:,} delta bytes, "
            f"{chain['superseded_bytes']:,} superseded bytes"
        )
    else:
        print(f"REBASED ({chain['decision']}): " + "; ".join(chain["reasons"]))
    if "pushed" in s:
        uploaded = "" if s["bytes_uploaded"] is None else f", {s['bytes_uploaded']:,} bytes uploaded"
        print(f"pushed {s['pushed']}: {s['layers_mounted']} layers of OLD mounted{uploaded}")


def _run(args) -> int:
    # Imported here, inside main's handlers: the docker SDK takes a moment to
    # import, and a Ctrl-C then must end as cleanly as any other.
    from . import engine, pipeline, report

    if args.command in INTERNAL:
        from .steps import compare, diff, generate, summary

        if args.command == "compare-trees":
            return compare.run(args.path, args.old, args.new)
        step = {"diff-trees": diff, "summarize": summary, "generate": generate}[args.command]
        return step.run(args.output)
    if args.command == "verify":
        from .steps import verify

        return verify.run(args.image_a, args.image_b, args.path)
    client = engine.connect()
    progress = pipeline.Progress(quiet=args.quiet)
    if args.command == "report":
        if args.base:
            figures = _report(client, args.image, args.base, args.new)
            print(json.dumps(figures, indent=2)) if args.json else _print_report(figures)
        else:
            figures = pipeline.chain_figures(client, args.image, args.new)
            print(json.dumps(figures, indent=2)) if args.json else _print_chain(figures)
        return 0
    with _output_dir(args.output) as output:
        if args.command == "diff":
            meta, plan = pipeline.diff(client, args.old, args.new, args.path, output, progress)
            print(json.dumps(_plan_json(meta, plan), indent=2)) if args.json else print(
                report.summary(meta, plan)
            )
            return 0
        options = pipeline.Options(
            method=args.method,
            allow_drift=args.allow_config_drift,
            skip_verify=args.skip_verify,
            push_to=args.push,
            plain_http=args.plain_http,
            policy=Policy(args.min_layers_left, args.max_superseded_share, args.max_deltas, args.rebase_to),
        )
        summary = pipeline.optimize(
            client, args.old, args.new, args.path, args.tag, output, options, progress
        )
        print(json.dumps(summary, indent=2)) if args.json else _print_summary(summary)
        return REBASED if summary["chain"]["decision"] != "delta" else 0


def _terminate(signum, frame):
    # SIGTERM (as from `docker stop` or a CI timeout) cleans up like Ctrl-C.
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "optimize" and not args.tag:
        if not args.push:
            parser.error("optimize needs -t/--tag or --push")
        args.tag = args.push
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args)
    except DiffLayersError as exc:
        if os.environ.get("DIFFLAYERS_DEBUG") == "1":
            raise
        print(f"difflayers: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("difflayers: interrupted; what this run made has been removed", file=sys.stderr)
        return 130
    except Exception as exc:
        # An engine error no step expected still ends as one line and exit 2.
        from . import engine

        if not engine.is_engine_error(exc) or os.environ.get("DIFFLAYERS_DEBUG") == "1":
            raise
        print(f"difflayers: error: the Docker engine: {exc}", file=sys.stderr)
        return 2
