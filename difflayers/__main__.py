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
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m difflayers",
        description="Steps of the diff-based layers kit; the compose files and scripts/ run them.",
    )
    parser.add_argument("--version", action="version", version=f"difflayers {__version__}")
    parser.add_argument("--output", default=os.environ.get("DIFFLAYERS_OUTPUT", "output"), help="output folder")
    sub = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for name, text in STEPS.items():
        sub.add_parser(name, help=text, description=text)
    args = parser.parse_args(argv)
    try:
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
