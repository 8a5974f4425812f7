"""What the commands share: the output folder and progress lines."""

import contextlib
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def output_dir(asked):
    """The folder asked for, or a temporary one removed afterwards."""
    if asked:
        yield Path(asked)
        return
    folder = tempfile.mkdtemp(prefix="difflayers-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
