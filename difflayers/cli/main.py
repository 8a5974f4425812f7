"""The ``difflayers`` command's entry point: parse, run one command, exit with its code.

Errors are one line on stderr and the exit code their class carries (see
``errors.ExitCode``); set DIFFLAYERS_DEBUG=1 for a traceback too (the
exit status stays the error's own).
"""

import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from difflayers.cli import internal
from difflayers.cli.parser import COMMANDS, build_parser, subparser
from difflayers.errors import DiffLayersError, ExitCode
from difflayers.settings import Environment, find_project_file, read_project_file

log = logging.getLogger("difflayers")


def parse(argv=None, env: Environment | None = None, cwd: Path | None = None):
    """The parsed arguments, difflayers.yaml's values under the flags given."""
    env = env or Environment()
    parser = build_parser(env)
    args = parser.parse_args(argv)
    if getattr(COMMANDS.get(args.command), "USES_PROJECT_FILE", False):
        found = find_project_file(getattr(args, "config", None), cwd or Path.cwd())
        if found is not None:
            command = subparser(parser, args.command)
            known = {action.dest for action in command._actions}
            command.set_defaults(**{k: v for k, v in read_project_file(found).items() if k in known})
            args = parser.parse_args(argv)
    if args.command in COMMANDS:
        check = getattr(COMMANDS[args.command], "check", None)
        if check:
            check(subparser(parser, args.command), args)
    return args


def _log_for_a_bug_report() -> None:
    """-v: debug lines of the kit, the docker SDK and urllib3 (request lines, never
    headers: they may carry credentials) on stderr, with the versions first."""
    import platform

    from difflayers import __version__

    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.debug(
        "difflayers %s, Python %s, %s, argv %s",
        __version__,
        platform.python_version(),
        platform.platform(),
        sys.argv,
    )


def _terminate(signum, frame):
    # SIGTERM (as from `docker stop` or a CI timeout) cleans up like Ctrl-C.
    raise KeyboardInterrupt


def _run(args, env: Environment) -> int:
    if args.command not in COMMANDS:
        return internal.run(args, env)
    # Imported here, inside main's handlers: the docker SDK takes a moment to
    # import, and a Ctrl-C then must end as cleanly as any other.
    from difflayers.adapters.engine import Engine
    from difflayers.pipeline import Progress

    if getattr(args, "verbose", False):
        _log_for_a_bug_report()
    if not getattr(COMMANDS[args.command], "NEEDS_ENGINE", True):
        return COMMANDS[args.command].run(args, None, None)
    engine = Engine.connect(
        docker_cli=env.docker_cli, builder=env.builder, compare=env.compare, timeout=env.engine_timeout
    )
    log.debug("engine: %s", engine.describe())
    progress = Progress(quiet=getattr(args, "quiet", False))
    if args.command != "prune":
        swept = engine.sweep_dead()
        if swept.anything:
            progress(f"removed what killed runs left: {swept}")
    return COMMANDS[args.command].run(args, engine, progress)


def main(argv=None) -> int:
    # One rule for signals: SIGINT and SIGTERM stop the run and remove what it
    # made, unless this process was started ignoring them (a shell's background
    # job ignores SIGINT): then they stay ignored throughout.
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        if argv is None:  # the program itself, not a caller in the same process
            _ignore_signals_while_exiting()


def _ignore_signals_while_exiting() -> None:
    """The run is over and its status known. Python restores the default
    actions as it shuts down, so a SIGTERM arriving in that last moment would
    kill the process (status -15, no message) after the run ended: seen in CI.
    From here the status stands."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _main(argv) -> int:
    debug = False
    try:
        env = Environment.read()
        debug = env.debug
        args = parse(argv, env)
        return int(_run(args, env))
    except DiffLayersError as exc:
        # DIFFLAYERS_DEBUG adds the traceback; the status is the error's own either way.
        if debug:
            traceback.print_exc()
        print(f"difflayers: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("difflayers: interrupted; what this run made has been removed", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, as Unix tools do;
        # stdout goes to /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OUTPUT_CLOSED)
    except Exception as exc:
        # An engine error no step expected still ends as one line and exit 2.
        from difflayers.adapters.engine import engine_error_text, is_engine_error

        if not is_engine_error(exc):
            raise
        if debug:
            traceback.print_exc()
        print(f"difflayers: error: {engine_error_text(exc)}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
