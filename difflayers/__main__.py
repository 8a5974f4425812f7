"""``python3 -m difflayers``: the same as the ``difflayers`` command."""

import sys

from difflayers.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
