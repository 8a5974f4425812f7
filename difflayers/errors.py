"""Typed errors. Each carries the exit code the entry point returns.

Exit codes follow what pipelines can act on: 1 means "the images differ" (a
verification result), 2 means bad input or an engine problem.
"""


class DiffLayersError(Exception):
    """Base class: a message meant for the user, and an exit code."""

    exit_code = 2


class BadInput(DiffLayersError):
    """The images, path or files given cannot be used as asked."""


class ImageNotFound(BadInput):
    """An image named by the user is not in the local engine."""


class PathProblem(BadInput):
    """RESTRICT_DIFF_TO_PATH is missing, not absolute, or not a directory."""


class UnsafePath(BadInput):
    """A name from a log or archive would land outside the compared path."""


class LogParseError(BadInput):
    """The itemized rsync log holds a line this kit does not understand."""


class StaleOutput(BadInput):
    """Files in output/ belong to other images than the ones asked for."""


class NotExpressible(BadInput):
    """The Dockerfile method cannot reproduce NEW exactly (config or names)."""


class EngineError(DiffLayersError):
    """The Docker engine could not be reached or refused a request."""


class CommandFailed(DiffLayersError):
    """A subprocess (rsync) exited non-zero."""

    def __init__(self, argv, returncode, stderr):
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-5:] if stderr else []
        super().__init__(
            f"{argv[0]} exited with status {returncode}"
            + ("".join(f"\n  {line}" for line in tail) if tail else "")
        )


class RegistryError(DiffLayersError):
    """A registry refused or could not serve a request of the direct push."""
