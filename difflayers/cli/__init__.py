"""The ``difflayers`` command: the parser, one module per command."""
