"""difflayers completion bash|zsh: the shell completion script, from the parser.

Commands and each command's options come from the parser itself, so the
script never lists an option that is gone; images are completed from the
engine's tags when the shell asks.
"""

from difflayers import __version__
from difflayers.errors import ExitCode

HELP = "print the shell completion script (bash or zsh)"
EXAMPLE = "source <(difflayers completion bash)"
NEEDS_ENGINE = False
SHELLS = ("bash", "zsh")


def add_arguments(p) -> None:
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def script(shell: str) -> str:
    """The completion script for ``shell``, rendered from templates/completion.bash.j2."""
    from difflayers.cli.parser import COMMANDS, build_parser, subparser
    from difflayers.methods.dockerfile import template_environment

    parser = build_parser()
    per_command = []
    for name in COMMANDS:
        options = sorted({o for a in subparser(parser, name)._actions for o in a.option_strings})
        per_command.append((name, options))
    common = sorted(
        {o for a in parser._actions if a.option_strings for o in a.option_strings} - {"--version"}
    )
    template = template_environment().get_template("completion.bash.j2")
    return template.render(
        version=__version__, shell=shell, commands=list(COMMANDS), common=common, per_command=per_command
    )


def run(args, engine, progress) -> int:
    print(script(args.shell), end="")
    return ExitCode.OK
