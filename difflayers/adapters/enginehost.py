"""Which engine the kit talks to: where Docker's and Podman's users expect it.

Docker's CLI looks at DOCKER_HOST, then DOCKER_CONTEXT or the current context
of its config (``docker context use``), then /var/run/docker.sock. Podman's
users set CONTAINER_HOST, or have only Podman's socket: rootless at
``$XDG_RUNTIME_DIR/podman/podman.sock``, rootful at /run/podman/podman.sock.
The kit looks in that order, and hands its choice to the docker CLI it runs
for BuildKit builds (``Endpoint.cli_env``), so both talk to one engine.
"""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_SOCKET = "/var/run/docker.sock"
PODMAN_ROOTFUL = "/run/podman/podman.sock"


@dataclass(frozen=True)
class Endpoint:
    """One place an engine may answer, and what named it (for messages)."""

    host: str  # the docker SDK's base_url
    named_by: str
    context: str | None = None  # a Docker context: its TLS settings come with it

    def client(self, timeout: int):
        """A docker SDK client for this engine (TLS as DOCKER_TLS_VERIFY or the context says)."""
        import docker
        from docker.context import ContextAPI

        if self.named_by == "DOCKER_HOST":
            return docker.from_env(timeout=timeout)
        tls = ContextAPI.get_context(self.context).TLSConfig if self.context else False
        return docker.DockerClient(base_url=self.host, tls=tls or False, timeout=timeout)

    def cli_env(self) -> dict:
        """The environment that points the docker CLI at this same engine."""
        return {"DOCKER_CONTEXT": self.context} if self.context else {"DOCKER_HOST": self.host}


def candidates(
    environ: Mapping, context: Callable[[str | None], tuple], exists: Callable[[str], bool]
) -> list:
    """Where to look, in order; ``context(name)`` gives (name, host) of a Docker
    context (None: the current one), ``exists`` whether a socket file is there.

    An engine named explicitly (DOCKER_HOST, a context, CONTAINER_HOST) is the
    only candidate: the kit never falls back from what the user chose.
    """
    if environ.get("DOCKER_HOST"):
        return [Endpoint(environ["DOCKER_HOST"], "DOCKER_HOST")]
    name, host = context(environ.get("DOCKER_CONTEXT") or None)
    if name != "default":
        return [Endpoint(host, f"the Docker context {name!r}", context=name)]
    if environ.get("CONTAINER_HOST"):
        return [Endpoint(environ["CONTAINER_HOST"], "CONTAINER_HOST")]
    sockets = [(DEFAULT_SOCKET, "Docker's socket")]
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        sockets += [
            (f"{runtime}/docker.sock", "rootless Docker's socket"),
            (f"{runtime}/podman/podman.sock", "rootless Podman's socket"),
        ]
    sockets.append((PODMAN_ROOTFUL, "Podman's socket"))
    found = [Endpoint(f"unix://{path}", named) for path, named in sockets if exists(path)]
    return found or [Endpoint(f"unix://{DEFAULT_SOCKET}", "Docker's socket")]


def current_context(name: str | None) -> tuple:
    """(name, host) of the Docker context ``name``, or of the current one."""
    from docker.context import ContextAPI

    from difflayers.errors import EngineError

    found = ContextAPI.get_context(name)
    if found is None:
        raise EngineError(f"DOCKER_CONTEXT names the Docker context {name!r}, which does not exist")
    return found.Name, found.Host or f"unix://{DEFAULT_SOCKET}"


def here() -> list:
    """The candidates on this machine, for this user."""
    return candidates(os.environ, current_context, os.path.exists)
