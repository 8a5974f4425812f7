"""The kit from Python: ``difflayers.optimize(...)`` returns a ``Result``.

What a CI script in Python calls instead of running the command and parsing
its JSON. It runs the command's own flow (``cli.optimize.summarize``), so the
options, checks and figures are the command's; errors are raised as the typed
exceptions of ``difflayers.errors`` (each carries the exit code the command
would end with), never printed. Importing it is light: the engine's SDK is
imported when ``optimize`` runs.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Result:
    """What ``optimize`` made: the fields scripts read, and ``summary``, the whole
    summary as ``difflayers optimize --json`` prints it (docs/schemas)."""

    image: str  # the tag made, or the reference pushed to
    method: str  # dockerfile, layer, or new-as-built
    new: int
    changed: int
    removed: int
    bytes_added: int  # file content of the layer(s) added above OLD
    verified: bool
    check: str | None  # construction or full (None: not checked)
    pushed: str | None  # the image pushed, by digest (None: not pushed)
    bytes_uploaded: int | None  # None where the engine pushed NEW as built
    rebased: bool  # not a delta on OLD: the first revision, or a rebase of the chain policy
    seconds: float
    summary: dict = field(repr=False, compare=False)

    @classmethod
    def from_summary(cls, summary: dict) -> "Result":
        return cls(
            image=summary["tag"],
            method=summary["method"],
            new=summary["new"],
            changed=summary["changed"],
            removed=summary["removed"],
            bytes_added=summary["bytes_added"],
            verified=bool(summary.get("verified")),
            check=summary.get("check"),
            pushed=summary.get("pushed"),
            bytes_uploaded=summary.get("bytes_uploaded"),
            rebased=(summary.get("chain") or {}).get("decision", "delta") != "delta",
            seconds=summary["seconds"],
            summary=summary,
        )


def optimize(
    old: str,
    new: str,
    path: str | Sequence[str],
    *,
    tag: str | None = None,
    push: str | None = None,
    method: str = "auto",
    verify: str = "construction",
    new_if_no_old: bool = False,
    options: tuple = (),
    quiet: bool = True,
) -> Result:
    """Make NEW as OLD + one layer of what changed under ``path`` (a directory,
    or several: their union): tagged ``tag`` in the engine, and/or pushed to
    ``push`` (as ``difflayers optimize``; more of its flags in ``options``, e.g.
    ``("--max-deltas", "5")``). Raises ``difflayers.errors.DiffLayersError``
    (typed) when it cannot."""
    paths = [path] if isinstance(path, str) else list(path)
    argv = ["optimize", old, new, *(arg for one in paths for arg in ("--path", one))]
    argv += ["--method", method, "--verify", verify]
    argv += ["-t", tag] if tag else []
    argv += ["--push", push] if push else []
    argv += ["--new-if-no-old"] if new_if_no_old else []
    argv += [*options]
    from difflayers.adapters.engine import Engine
    from difflayers.cli.main import parse
    from difflayers.cli.optimize import summarize
    from difflayers.pipeline import Progress
    from difflayers.settings import Environment

    env = Environment.read()
    args = parse(argv, env)
    engine = Engine.connect(
        docker_cli=env.docker_cli, builder=env.builder, compare=env.compare, timeout=env.engine_timeout
    )
    return Result.from_summary(summarize(args, engine, Progress(quiet=quiet)))
