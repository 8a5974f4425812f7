"""difflayers verify A B [--path P]: are two images the same, file for file and in config?

Independent of rsync and of the plan: it reads both images through the engine
(export, or the archive of P) and compares what it finds.
"""

from difflayers.cli.common import print_json
from difflayers.comparing.equality import SCOPE_NOTE, Comparison, compare_images, equality_checked
from difflayers.errors import ExitCode

HELP = "are two images equal, file for file and in config? (exit 1 if not)"
EXAMPLE = "difflayers verify app:2 app:2-processed --path /app"


def add_arguments(parser) -> None:
    parser.add_argument("image_a", metavar="IMAGE_A", help="an image in the local engine")
    parser.add_argument("image_b", metavar="IMAGE_B", help="the image to compare it with")
    parser.add_argument("--path", help="compare only this directory (default: the whole filesystem)")
    parser.add_argument(
        "--byte-exact",
        action="store_true",
        help="count byte-code that differs only in its embedded source mtime as a difference",
    )
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
    result = compare_images(engine, args.image_a, args.image_b, args.path, args.byte_exact)
    print_json(as_json(result)) if args.json else print_result(result)
    return ExitCode.OK if result.equal else ExitCode.DIFFERENT
