"""``docker difflayers ...``: the command as a Docker CLI plugin.

The docker CLI finds plugins in ``$DOCKER_CONFIG/cli-plugins`` (default
``~/.docker/cli-plugins``), ``/usr/local/lib/docker/cli-plugins`` and
``/usr/libexec/docker/cli-plugins``: an executable named ``docker-NAME`` that
answers ``docker-cli-plugin-metadata`` with its metadata (the protocol of
``docker buildx`` and ``docker compose``). The CLI then runs it with the plugin's
name first: ``docker-difflayers difflayers optimize ...``. ``difflayers`` stays
the primary command; the plugin is installed with one link (docs/cli.md).
"""

import json
import sys

from difflayers import __version__

NAME = "difflayers"


def metadata() -> dict:
    """What the docker CLI lists in ``docker --help`` and ``docker info``."""
    return {
        "SchemaVersion": "0.1.0",
        "Vendor": "difflayers",
        "Version": __version__,
        "ShortDescription": "Ship an image as the one already pushed plus only what changed",
    }


def arguments(argv: list) -> list | None:
    """The ``difflayers`` arguments of a plugin call (the plugin's name, which
    the CLI passes first, dropped); None for the metadata call."""
    if argv[:1] == ["docker-cli-plugin-metadata"]:
        return None
    return argv[1:] if argv[:1] == [NAME] else argv


def main(argv=None) -> int:
    found = arguments(sys.argv[1:] if argv is None else list(argv))
    if found is None:
        print(json.dumps(metadata()))
        return 0
    from difflayers.cli.main import main as difflayers

    return difflayers(found)


if __name__ == "__main__":
    sys.exit(main())
