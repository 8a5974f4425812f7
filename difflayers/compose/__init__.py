"""The compose kit's steps, run in the tool container by the compose files' services."""
