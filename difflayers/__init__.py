"""difflayers: ship an image update as OLD + one small layer of what changed.

Where things are (see the README's "Where things are"): ``core`` is pure logic
(the itemized log, the plan, names, the chain record, image config);
``archives`` writes tars; ``comparing`` compares trees; ``adapters`` holds the
engine (the one module that imports the docker SDK), the registry client and
the one place that runs subprocesses; ``methods`` makes the processed image;
``pipeline`` is the CLI's flow; ``cli`` and ``compose`` are the two entry points.
"""

import time as _time

__version__ = "0.2.0"
# When the kit was loaded: the command's summary reports seconds from here,
# so they are the wall time a user waits (imports, the engine, the sweep).
STARTED = _time.monotonic()

from difflayers.api import Result, optimize  # noqa: E402 (after the clock starts)
from difflayers.errors import DiffLayersError  # noqa: E402

__all__ = ["DiffLayersError", "Result", "optimize", "__version__"]
