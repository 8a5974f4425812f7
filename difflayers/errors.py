"""Exit codes and typed errors. Each error carries the exit code the entry point returns.

Exit codes follow what pipelines can act on (see ``ExitCode``).
"""

import enum


class ExitCode(enum.IntEnum):
    """What ``difflayers`` exits with; the README lists the same."""

    OK = 0  # done, or the images are equal
    DIFFERENT = 1  # a verification found differences
    BAD_INPUT = 2  # bad input, or the engine or a registry refused
    REBASED = 3  # done, but the chain policy rebased (pushing costs more)
    INDEX_NOT_ATTACHED = 4  # pushed and tagged (by the engine), but its tree index is not beside it
    INTERRUPTED = 130  # Ctrl-C or SIGTERM; what the run made was removed
    OUTPUT_CLOSED = 141  # stdout's reader went away (`| head`), as for SIGPIPE


class DiffLayersError(Exception):
    """Base class: a message meant for the user, and an exit code."""

    exit_code = ExitCode.BAD_INPUT


class BadInput(DiffLayersError):
    """The images, path or files given cannot be used as asked."""


class ImageNotFound(BadInput):
    """An image named by the user is not in the local engine."""


class PathProblem(BadInput):
    """RESTRICT_DIFF_TO_PATH is missing, not absolute, or not a directory."""


class ChangesOutsidePaths(PathProblem):
    """NEW differs from OLD outside the paths asked for, where the image made keeps OLD's."""


class UnsafePath(BadInput):
    """A name from a log or archive would land outside the compared path."""


class LogParseError(BadInput):
    """The itemized rsync log holds a line this kit does not understand."""


class StaleOutput(BadInput):
    """Files in output/ belong to other images than the ones asked for."""


class NotExpressible(BadInput):
    """The Dockerfile method cannot reproduce NEW exactly (config or names)."""


class XattrNotCarried(NotExpressible):
    """NEW has an extended attribute on a shipped entry that the engine's archives do not carry."""


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


class BadIndex(BadInput):
    """A tree index (from a registry or a file) is not one this kit wrote for this image and path."""


class RegistryError(DiffLayersError):
    """A registry refused or could not serve a request of the direct push."""


class IndexNotAttached(DiffLayersError):
    """The image is pushed and its tag moved (the engine pushed NEW as built),
    but attaching its tree index failed: not "nothing pushed" (exit 2)."""

    exit_code = ExitCode.INDEX_NOT_ATTACHED


class VerificationFailed(DiffLayersError):
    """The processed image is not equal to NEW."""

    exit_code = ExitCode.DIFFERENT


class ConfigFileError(BadInput):
    """The project file (difflayers.yaml) cannot be read or holds a bad value."""
