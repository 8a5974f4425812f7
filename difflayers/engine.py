"""The one adapter to the Docker engine (docker SDK for Python).

Callers pass a client in; nothing here connects at import time. Every engine
error is turned into a typed error that names the image or path concerned.
"""

import base64
import contextlib
import json
import uuid

import docker
import docker.errors

from .errors import EngineError, ImageNotFound, PathProblem

# Label put on every throwaway container, so a leak can be found and removed.
LABEL = "io.github.difflayers.role"


def connect(client=None):
    """Return a working client, or say clearly why the engine is unreachable."""
    if client is not None:
        return client
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineError(
            f"cannot reach the Docker engine ({exc}); is it running, and is "
            "DOCKER_HOST (or /var/run/docker.sock) right?"
        ) from None
    return client


def inspect_image(client, ref: str) -> dict:
    """``docker image inspect`` for one local image (no pull is attempted)."""
    try:
        return client.api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        raise ImageNotFound(f"image {ref!r} is not in the local engine (build or pull it first)") from None
    except docker.errors.APIError as exc:
        raise EngineError(f"inspecting image {ref!r}: {exc.explanation or exc}") from None


@contextlib.contextmanager
def throwaway_container(client, image: str, role: str):
    """A created, never started container of ``image``, removed afterwards.

    Creating it needs no shell or command in the image: nothing runs.
    """
    try:
        container = client.api.create_container(
            image,
            command=["/nonexistent-difflayers-placeholder"],
            entrypoint=[],
            network_disabled=True,
            labels={LABEL: role},
            name=f"difflayers-{role}-{uuid.uuid4().hex[:12]}",
        )
    except docker.errors.ImageNotFound:
        raise ImageNotFound(f"image {image!r} is not in the local engine") from None
    except docker.errors.APIError as exc:
        raise EngineError(f"creating a container of {image!r}: {exc.explanation or exc}") from None
    try:
        yield container["Id"]
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container["Id"], force=True, v=True)


def path_kind(client, image: str, path: str) -> str:
    """'dir', 'file', 'symlink' or 'missing': what ``path`` is in ``image``.

    Uses HEAD on the archive endpoint, which returns the stat header without
    sending the tree.
    """
    with throwaway_container(client, image, "stat") as cid:
        response = client.api.head(client.api._url("/containers/{0}/archive", cid), params={"path": path})
        if response.status_code == 404:
            return "missing"
        if response.status_code != 200:
            raise EngineError(f"reading {path} in {image!r}: HTTP {response.status_code}")
        stat = json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))
    mode = stat["mode"]
    if mode & (1 << 31):  # Go's os.ModeDir
        return "dir"
    if mode & (1 << 27):  # os.ModeSymlink
        return "symlink"
    return "file"


def require_directory(client, image: str, path: str) -> None:
    """Fail clearly unless ``path`` is a real directory in ``image``.

    A missing path would be exposed as an empty volume, which looks like
    everything was removed (or added); a symlink would be compared as a link.
    """
    kind = path_kind(client, image, path)
    if kind != "dir":
        what = {"missing": "does not exist", "file": "is a file", "symlink": "is a symlink"}[kind]
        raise PathProblem(
            f"{path} {what} in image {image!r}; RESTRICT_DIFF_TO_PATH must be a directory in both images"
        )


class _ChunkReader:
    """A read()-able view of the SDK's chunk iterator, for tarfile's stream mode."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size=-1):
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


@contextlib.contextmanager
def filesystem_archive(client, image: str):
    """Yield a tar stream of the whole filesystem of ``image`` (docker export)."""
    with throwaway_container(client, image, "export") as cid:
        yield _ChunkReader(client.api.export(cid, chunk_size=1 << 20))


@contextlib.contextmanager
def tree_archive(client, image: str, path: str):
    """Yield a tar stream of ``path`` in ``image`` (members ``basename/...``)."""
    with throwaway_container(client, image, "export") as cid:
        try:
            chunks, _stat = client.api.get_archive(cid, path, chunk_size=1 << 20)
        except docker.errors.NotFound:
            raise PathProblem(f"{path} does not exist in image {image!r}") from None
        yield _ChunkReader(chunks)


def remove_containers(client, ids) -> None:
    """Remove containers by ID, ignoring ones already gone."""
    for cid in ids:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(cid, force=True, v=True)


def compose_containers(client, project: str, service: str) -> list:
    """IDs of a Compose project's containers for one service."""
    return [
        c["Id"]
        for c in client.api.containers(
            all=True,
            filters={
                "label": [f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]
            },
        )
    ]
