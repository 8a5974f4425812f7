"""The edges: the Docker engine, registries, and subprocesses. Only here is ``docker`` imported."""
