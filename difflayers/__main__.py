"""Entry point for the kit's steps: ``python3 -m difflayers STEP``.

Errors the user can act on end as one line on stderr and exit code 2; a
traceback is printed only with DIFFLAYERS_DEBUG=1.
"""

import argparse
import os
import sys

from . import __version__
from .errors import DiffLayersError

STEPS = {
    "diff-trees": "compare the trees Compose exposed (differ service)",
    "summarize": "print what the last diff found (result service)",
    "generate": "write the delta archive, removal list and Dockerfile",
    "verify": "compare two images' files and config, without rsync (exit 1 if they differ)",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m difflayers",
        description="Steps of the diff-based layers kit; the compose files and scripts/ run them.",
    )
    parser.add_argument("--version", action="version", version=f"difflayers {__version__}")
    parser.add_argument(
        "--output", default=os.environ.get("DIFFLAYERS_OUTPUT", "output"), help="output folder"
    )
    sub = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    parsers = {name: sub.add_parser(name, help=text, description=text) for name, text in STEPS.items()}
    parsers["verify"].add_argument("image_a", metavar="IMAGE_A")
    parsers["verify"].add_argument("image_b", metavar="IMAGE_B")
    parsers["verify"].add_argument(
        "--path", help="compare only this directory (default: the whole filesystem)"
    )
    args = parser.parse_args(argv)
    try:
        if args.step == "verify":
            from .steps import verify

            return verify.run(args.image_a, args.image_b, args.path)
        if args.step == "diff-trees":
            from .steps import diff as step
        elif args.step == "summarize":
            from .steps import summary as step
        else:
            from .steps import generate as step
        return step.run(args.output)
    except DiffLayersError as exc:
        if os.environ.get("DIFFLAYERS_DEBUG") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
