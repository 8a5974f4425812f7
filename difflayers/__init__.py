"""difflayers: ship an image update as OLD + one small layer of what changed.

Where things are (see the README's "Where things are"): ``core`` is pure logic
(the itemized log, the plan, names, the chain record, image config);
``archives`` writes tars; ``comparing`` compares trees; ``adapters`` holds the
engine (the one module that imports the docker SDK), the registry client and
the one place that runs subprocesses; ``methods`` makes the processed image;
``pipeline`` is the CLI's flow; ``cli`` and ``compose`` are the two entry points.
"""

__version__ = "0.2.0"
