"""difflayers: ship an image update as OLD + one small layer of what changed.

The pure core (itemize, plan, dockerfile, delta) never touches the engine;
``engine`` is the one module that imports the docker SDK, ``process`` the one
place that runs subprocesses.
"""

__version__ = "0.1.0"
