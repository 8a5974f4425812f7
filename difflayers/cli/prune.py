"""difflayers prune: remove what runs that were killed left behind.

Every run does this by itself when it starts; this is the same, on demand.
Only what carries the kit's owner mark and whose process on this machine is
gone is removed: containers, volumes, unverified image tags, temporary folders.
"""

from difflayers.cli.common import print_json
from difflayers.errors import ExitCode

HELP = "remove containers, volumes, tags and temporary folders that killed runs left"
EXAMPLE = "difflayers prune --json"


def add_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="print what was removed as JSON")


def run(args, engine, progress) -> int:
    swept = engine.sweep_dead()
    if args.json:
        print_json(swept.__dict__)
    else:
        print(f"removed {swept}" if swept.anything else "nothing to remove: no run left anything behind")
    return ExitCode.OK
