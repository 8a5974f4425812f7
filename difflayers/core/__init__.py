"""The pure core: rsync's itemized log, the plan, names, the chain record, image config.

Nothing here talks to the engine, a registry or a subprocess."""
