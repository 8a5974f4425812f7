"""The ``difflayers`` argument parser: one sub-command per module of this package.

Each command module has HELP, EXAMPLE, ``add_arguments(parser)`` and
``run(args, engine, progress)``; some also ``check(parser, args)`` for what
argparse cannot express. Values from difflayers.yaml become the defaults of
the options they name, so flags override them.
"""

import argparse

from difflayers import __version__
from difflayers.cli import completion, diff, index, internal, optimize, prune, report, verify
from difflayers.settings import Environment

COMMANDS = {
    "optimize": optimize,
    "diff": diff,
    "verify": verify,
    "report": report,
    "index": index,
    "prune": prune,
    "completion": completion,
}

DESCRIPTION = """\
Ship a Docker image update as the image you already pushed (OLD) plus one
small layer of what changed, instead of a whole new COPY layer.

  difflayers optimize app:1 app:2 --path /app -t app:2-processed
  difflayers diff app:1 app:2 --path /app
  difflayers verify app:2 app:2-processed
  difflayers report app:2-processed --base app:1 --new app:2
  difflayers index localhost:5000/app:1 --path /app --push
  difflayers prune
  source <(difflayers completion bash)

OLD and NEW are in the local engine (DOCKER_HOST and Docker contexts are
honoured); with --push, OLD may be in the registry only (its tree index is
used). Options a project always passes can live in difflayers.yaml.
Exit status: 0 done, 1 images differ, 2 bad input or engine error,
3 done but rebased (chain policy), 130 interrupted."""


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress lines on stderr"
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what a bug report needs on stderr: versions, the engine, each engine and registry call",
    )
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="project file (default: ./difflayers.yaml)",
    )
    return common


def build_parser(env: Environment | None = None) -> argparse.ArgumentParser:
    env = env or Environment()
    common = _common()
    parser = argparse.ArgumentParser(
        prog="difflayers",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"difflayers {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=f"example:\n  {module.EXAMPLE}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        module.add_arguments(p)
        p.set_defaults(environment=env)  # the variables read once, for the command's run()
    for name, text in internal.COMMANDS.items():
        # Without help=, argparse lists no line for them in the user's --help.
        p = sub.add_parser(name, description=text)
        internal.add_arguments(name, p, env)
    return parser


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    actions = [a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices[name]
