"""difflayers verify A B [--path P]: are two images the same, file for file and in config?

Independent of rsync and of the plan: it reads both images through the engine
(export, or the archive of P) and compares what it finds.
"""

import tempfile
from dataclasses import replace
from pathlib import Path

from difflayers.cli.common import (
    PathOption,
    paths_of,
    platform_args,
    print_json,
    reads_registry,
    registry_for_reading,
)
from difflayers.comparing.equality import SCOPE_NOTE, Comparison, compare_images, equality_checked
from difflayers.comparing.registrycompare import compare_platforms
from difflayers.core.scope import Paths
from difflayers.errors import ExitCode

HELP = "are two images equal, file for file and in config? (exit 1 if not)"
EXAMPLE = "difflayers verify app:2 app:2-processed --path /app"


def add_arguments(parser) -> None:
    parser.add_argument(
        "image_a",
        metavar="IMAGE_A",
        help="an image in the local engine, or HOST/REPO:TAG in a registry (one or many platforms)",
    )
    parser.add_argument("image_b", metavar="IMAGE_B", help="the image to compare it with")
    parser.add_argument(
        "--path",
        action=PathOption,
        help="compare only this directory; repeat for several (default: the whole filesystem)",
    )
    parser.add_argument(
        "--byte-exact",
        action="store_true",
        help="count byte-code that differs only in its embedded source mtime as a difference",
    )
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="of images in a registry: compare these platforms only (repeat, or comma separated)",
    )
    parser.add_argument("--plain-http", action="store_true", help="talk HTTP to a registry not on loopback")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def as_json(result: Comparison) -> dict:
    return {
        "image_a": result.image_a,
        "image_b": result.image_b,
        "path": result.path,
        "equal": result.equal,
        "equality": equality_checked(result.byte_exact),
        "equivalent_bytecode": result.equivalent,
        "config_differences": result.config,
        "tree_differences": result.tree,
    }


def print_result(result: Comparison) -> None:
    where = f" under {result.path}" if result.path else ""
    print(f"Comparing {result.image_a} (A) with {result.image_b} (B){where} ...")
    for line in result.config + result.tree:
        print(f"  {line}")
    print(f"Content compared {equality_checked(result.byte_exact)}.")
    if result.equivalent:
        count = len(result.equivalent)
        print(f"{count} byte-code files differ only in their embedded source mtime (equivalent):")
        for name in result.equivalent:
            print(f"  {name if name.isprintable() else repr(name)}")
    if result.equal:
        print(f"Equal: {result.scope} ({SCOPE_NOTE}) and the same runtime config.")
    else:
        count = len(result.config) + len(result.tree)
        print(f"{count} differences ({result.scope} and runtime config compared).")


def run(args, engine, progress) -> int:
    platforms = platform_args(args)
    if reads_registry(engine, [args.image_a, args.image_b], platforms):
        return _run_in_registry(args, platforms, progress)
    paths = paths_of(args)
    found = [
        compare_images(engine, args.image_a, args.image_b, path, args.byte_exact) for path in _each(args)
    ]
    result = found[0] if paths is None else merged(found, paths)
    print_json(as_json(result)) if args.json else print_result(result)
    return ExitCode.OK if result.equal else ExitCode.DIFFERENT


def _each(args) -> list:
    """The directories compared one by one: each of several --path (their union), else the one."""
    paths = paths_of(args)
    return list(paths.members) if paths else [args.path]


def merged(found: list, paths: Paths) -> Comparison:
    """Comparisons of each of several paths as one: the config's differences once,
    every path's tree differences."""
    first = found[0]
    return replace(
        first,
        path=str(paths),
        tree=[line for result in found for line in result.tree],
        equivalent=[name for result in found for name in result.equivalent],
    )


def _run_in_registry(args, platforms: list, progress) -> int:
    """Images in a registry (one not in the engine, or ``--platform``): per platform."""
    registry = registry_for_reading([args.image_a, args.image_b], args.environment.certs_d, args.plain_http)
    progress(f"reading both images' layers from {registry.host}, platform by platform (nothing is pulled)")
    paths = paths_of(args)
    with tempfile.TemporaryDirectory(prefix="difflayers-verify-") as work:
        each = [
            compare_platforms(
                registry, args.image_a, args.image_b, path, platforms, args.byte_exact, Path(work)
            )
            for path in _each(args)
        ]
    found = each[0]
    if paths is not None:  # per platform, its comparisons of each path merged
        found = [
            (platform, merged([run[i][1] for run in each], paths)) for i, (platform, _) in enumerate(found)
        ]
    if args.json:
        print_json(
            {
                "equal": all(result.equal for _, result in found),
                "platforms": [{"platform": str(p), **as_json(result)} for p, result in found],
            }
        )
    else:
        for platform, result in found:
            print(f"{platform}:")
            print_result(result)
    return ExitCode.OK if all(result.equal for _, result in found) else ExitCode.DIFFERENT
