"""Commands the kit runs inside its own containers, left out of the user's --help.

diff-trees, summarize and generate are the compose kit's services and
./generate-dockerfile.sh; compare-trees is the CLI's differ container, diff-against-index
the registry flow's pass (``comparing.indexpass``).
"""

from difflayers.errors import ExitCode
from difflayers.settings import Environment

COMMANDS = {
    "diff-trees": "(compose) compare the trees Compose exposed: the differ service",
    "summarize": "(compose) print what the last diff found: the result service",
    "generate": "(compose) write the delta archive, removal list and Dockerfile",
    "compare-trees": "(internal) compare /trees/old and /trees/new into /out",
    "diff-against-index": "(internal) compare /trees/new with OLD's index in /in into /out",
}


def add_arguments(name: str, p, env: Environment) -> None:
    if name == "compare-trees":
        p.add_argument("--path", required=True)
        p.add_argument("--old", required=True, help="JSON {ref, id}")
        p.add_argument("--new", required=True, help="JSON {ref, id}")
        p.add_argument("--in-pass", choices=["delta", "layer"], help="also what that method needs")
        p.add_argument("--byte-exact", action="store_true")
    elif name == "diff-against-index":
        p.add_argument("--path", required=True)
        p.add_argument("--byte-exact", action="store_true")
        p.add_argument("--index-only", action="store_true", help="NEW's index alone")
        p.add_argument("--base-is-old", action="store_true", help="the image at base-root is OLD itself")
    else:
        p.add_argument("--output", default=env.output, help="output folder")


def run(args, env: Environment) -> int:
    if args.command == "compare-trees":
        from difflayers.comparing import container

        container.run(args.path, args.old, args.new, args.in_pass, args.byte_exact)
    elif args.command == "diff-against-index":
        from difflayers.comparing import container, indexpass

        indexpass.make(container.OUT, args.path, args.byte_exact, args.index_only, args.base_is_old)
    elif args.command == "diff-trees":
        from difflayers.compose import differ

        differ.run(args.output, env)
    elif args.command == "summarize":
        from difflayers.compose import summarize

        summarize.run(args.output)
    else:
        from difflayers.compose import generate

        generate.run(args.output, env)
    return ExitCode.OK
