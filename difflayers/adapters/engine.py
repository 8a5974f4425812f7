"""The one adapter to the Docker engine: the ``Engine`` object.

It owns the docker SDK client and every engine call the kit makes, the docker
CLI it runs for BuildKit builds included, so the orchestration can be handed
another engine (a fake one in unit tests). Nothing here connects at import
time. Every engine error is turned into a typed error that names the image or
path concerned.
"""

import base64
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import docker.utils
import urllib3.exceptions
from requests.exceptions import RequestException, Timeout

from difflayers.adapters import enginehost, process
from difflayers.adapters.enginehost import Endpoint
from difflayers.adapters.streams import ChunkReader, Counting, layer_identity
from difflayers.archives.tarstream import open_tar
from difflayers.core.mediatypes import ATTESTATION_KEY, INDEXES
from difflayers.core.names import stand_ins_under
from difflayers.errors import CommandFailed, EngineError, ImageNotFound, PathProblem
from difflayers.ownership import (
    OWNER_LABEL,
    UNVERIFIED_REPOSITORY,
    Owner,
    dead_temp_dirs,
    folder_bytes,
    owner_gone,
    remove_folder,
)
from difflayers.settings import ENGINE_TIMEOUT

# Label put on every throwaway container, so a leak can be found and removed.
LABEL = "io.github.difflayers.role"


def refuse_stand_ins(path: str, image: str) -> None:
    """``path`` read through a container of ``image`` must hold none of the
    entries Docker puts over the image's in every container."""
    found = stand_ins_under(path)
    if found:
        raise PathProblem(
            f"{path} of {image!r} cannot be read through a container: it would show what Docker puts "
            f"in every container ({', '.join(found)}), not the image's own files. The kit reads it from the "
            "image's layers only: compared in place with BuildKit (OLD and NEW in this engine), "
            "or in a registry"
        )


@contextlib.contextmanager
def uninterrupted():
    """Hold Ctrl-C and SIGTERM while a call that creates something runs.

    Interrupted half-way, the engine would still finish making a container
    whose ID we never got, and could not remove. The signal is acted on as
    soon as the call returns and what it made is known to the caller. A
    signal the process was started ignoring is left ignored, here as everywhere.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def hold(signum, frame):
        if not received and sys.stderr.isatty():
            # For a person waiting; a pipeline reads the one line at the end.
            print("difflayers: stopping once the engine finishes this step ...", file=sys.stderr, flush=True)
        received.append(signum)

    # A signal this process ignores (SIGINT, for a background job of a shell
    # script) stays ignored: holding it here would turn it into a stop.
    previous = {
        sig: signal.signal(sig, hold)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            raise KeyboardInterrupt


def is_engine_error(exc: BaseException) -> bool:
    """True for the SDK's own errors, which callers outside this module do not
    import, and for its HTTP client's: an engine that stops answering (or a
    registry it waits on, as during a push) times out in requests or urllib3."""
    return isinstance(exc, (docker.errors.DockerException, RequestException, urllib3.exceptions.HTTPError))


def engine_error_text(exc: BaseException) -> str:
    """One line for an engine error no step expected (see ``is_engine_error``)."""
    if isinstance(exc, (Timeout, urllib3.exceptions.TimeoutError)):
        return (
            "the Docker engine did not answer in time (DIFFLAYERS_ENGINE_TIMEOUT, default 60 s); "
            f"during a push it waits on the registry: is the registry answering? ({exc})"
        )
    if isinstance(exc, (RequestException, urllib3.exceptions.HTTPError)):
        return f"the connection to the Docker engine failed: {exc}"
    return f"the Docker engine: {exc}"


@contextlib.contextmanager
def _owned(create, remove):
    """Make something in the engine and remove it on the way out, whatever
    happens: also when Ctrl-C came while it was being made (see
    ``uninterrupted``), since by then we hold its ID."""
    made = []
    try:
        with uninterrupted():
            made.append(create())
        yield made[0]
    finally:
        if made:
            # Removal runs to its end too; if the engine still refuses or does
            # not answer, the caller's sweep, or the next run's, removes it (it
            # carries this process as its owner).
            with uninterrupted(), contextlib.suppress(docker.errors.DockerException, RequestException):
                _removed(remove, made[0])


def _removed(remove, thing, attempts: int = 5) -> None:
    """``remove(thing)``, again a moment later while the engine answers with an
    error: a container whose export was just cut off (Ctrl-C while a tree
    streams) is still held by that export for a moment. An engine that does
    not answer is not asked again (each try would wait for its timeout)."""
    for attempt in range(attempts):
        try:
            remove(thing)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


# --- The CLI's path: volumes, helper containers and builds through the API,
# --- with no bind mount, so a remote engine (DOCKER_HOST) works too.

RUN_LABEL = "io.github.difflayers.run"
TOOL_IMAGE = "difflayers-kit:local"
# A file, never removed (a lock file must outlive its holders): runs take turns on it.
BUILD_CACHE_LOCK = Path(tempfile.gettempdir()) / ".difflayers-build-cache.lock"
SOURCE_LABEL = "io.github.difflayers.sources"
_CHECKOUT = Path(__file__).resolve().parents[2]
_PACKAGE = Path(__file__).resolve().parents[1]
TOOL_DOCKERFILE = "shell.Dockerfile"
TOOL_TARGET = "kit"  # the stage the compose kit and the differ run; "cli" is the command's own image


@dataclass
class Swept:
    """What ``Engine.sweep_dead`` removed of runs whose process is gone."""

    containers: int = 0
    volumes: int = 0
    tags: int = 0
    folders: int = 0
    folder_bytes: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.containers or self.volumes or self.tags or self.folders)

    def __str__(self) -> str:
        return (
            f"{self.containers} containers, {self.volumes} volumes, {self.tags} image tags, "
            f"{self.folders} temporary folders ({self.folder_bytes:,} bytes)"
        )


def _api(what: str, call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except docker.errors.ImageNotFound as exc:
        raise ImageNotFound(f"{what}: {exc.explanation or exc}") from None
    except docker.errors.APIError as exc:
        raise EngineError(f"{what}: {exc.explanation or exc}") from None


def _tool_sources() -> dict:
    """The build context of the tool image (name -> path): from a checkout, or
    from the installed package, which carries the templates and the Dockerfile
    (an installed kit builds its tool image itself, no checkout needed)."""
    root = _CHECKOUT if (_CHECKOUT / "templates" / TOOL_DOCKERFILE).is_file() else _PACKAGE
    package = _CHECKOUT / "difflayers" if root is _CHECKOUT else _PACKAGE
    return {
        "Dockerfile": root / "templates" / TOOL_DOCKERFILE,
        "difflayers": package,
        "templates": root / "templates",
    }


def _sources_digest(sources: dict) -> str:
    """One digest of the files the tool image is built from."""
    digest = hashlib.sha256()
    for name, root in sorted(sources.items()):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(f"{name}/{path.relative_to(root)}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# The command of a container the kit creates and never starts.
PLACEHOLDER = "/nonexistent-difflayers-placeholder"
BUILDKIT_CANDIDATES = ("docker", "/usr/bin/docker")
# Buildah's NetworkDisabled, as Podman's build API reads ``networkmode`` (an
# integer in 4.x, a number or a name later): ``Engine.no_network``.
PODMAN_NETWORK_DISABLED = "1"
PASS_IMAGE = "difflayers-pass"  # Podman: the results of a pass, for a moment (``_buildah_export``)
# Storage drivers whose layer diffs compare trees (moby's and containers/storage's
# NaiveDiffDriver): ``Engine.naive_differ``.
NAIVE_DIFF_DRIVERS = ("vfs", "btrfs", "zfs", "devicemapper")
# Manifests, indexes and configs are small; layers are not kept while reading a save stream.
SMALL_BLOB = 1 << 20


def _place(source: Path, dest: Path) -> None:
    """Put ``source`` into a build context: a hard link where it can (a delta
    can be large), else a copy; folders are copied whole."""
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        return
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def _platform_entry(index: dict, image: dict) -> str:
    """The digest of ``image``'s platform manifest in an index (attestations skipped)."""
    for entry in index.get("manifests", []):
        platform = entry.get("platform") or {}
        if (entry.get("annotations") or {}).get(ATTESTATION_KEY):
            continue
        if (platform.get("os"), platform.get("architecture")) == (image.get("Os"), image.get("Architecture")):
            return entry["digest"]
    raise EngineError(
        f"the index of {image['Id'][:19]} has no manifest for {image.get('Os')}/{image.get('Architecture')}"
    )


class Engine:
    """The Docker engine as the kit uses it: every engine call goes through here."""

    def __init__(
        self,
        client,
        owner: Owner | None = None,
        docker_cli: str | None = None,
        builder="auto",
        compare="auto",
        endpoint: Endpoint | None = None,
    ):
        self.client = client
        # Where the client connected; the docker CLI the kit runs is pointed there too.
        self.endpoint = endpoint
        # Put on everything this process makes, from birth (see ``ownership``).
        self.owner = owner or Owner.me()
        # The docker CLI to build with BuildKit (the SDK cannot), and which
        # builder the Dockerfile method uses: auto (BuildKit where a CLI has
        # it), buildkit or classic.
        self.clis = (docker_cli,) if docker_cli else BUILDKIT_CANDIDATES
        self.builder = builder
        # How trees are exposed to the differ: auto (BuildKit mounts, else
        # copies into volumes), mounts or volumes.
        self.compare = compare

    @functools.cached_property
    def is_podman(self) -> bool:
        """Podman's Docker-compatible API: no BuildKit behind it (Buildah builds)."""
        components = self.client.version().get("Components") or []
        return any("podman" in (c.get("Name") or "").lower() for c in components)

    @property
    def no_network(self) -> str:
        """The build API's ``networkmode`` for steps without a network. Podman
        reads it as Buildah's network policy (``1``: disabled; "none" is ignored
        there, and each ``RUN`` then leaves the empty ``/etc/hosts`` it mounted
        on in the image it makes, which NEW does not hold)."""
        return PODMAN_NETWORK_DISABLED if self.is_podman else "none"

    @property
    def mounting_builder(self) -> str:
        """What mounts images in place in a build step here, for messages."""
        return "Buildah" if self.is_podman else "BuildKit"

    @functools.cached_property
    def buildkit_cli(self) -> str | None:
        """The first docker CLI that builds with BuildKit: one with buildx, or
        one from before buildx was required (up to 22), where DOCKER_BUILDKIT=1 does.
        None on Podman, whose API cannot serve one."""
        if self.is_podman:
            return None
        for cli in self.clis:
            if shutil.which(cli) is None:
                continue
            if process.output([cli, "buildx", "version"]) is not None:
                return cli
            version = (process.output([cli, "version", "--format", "{{.Client.Version}}"]) or "").strip()
            major = version.split(".")[0]
            if major.isdigit() and int(major) <= 22:
                return cli
        return None

    def _cli_env(self) -> dict:
        """The docker CLI's environment: BuildKit on, and this engine (``enginehost``)."""
        return {**os.environ, "DOCKER_BUILDKIT": "1", **(self.endpoint.cli_env() if self.endpoint else {})}

    def _labels(self, role: str, run_id: str = "") -> dict:
        labels = {LABEL: role, OWNER_LABEL: self.owner.text}
        if run_id:
            labels[RUN_LABEL] = run_id
        return labels

    @contextlib.contextmanager
    def _raw_stream(self, what: str, endpoint: str, name: str, params=None):
        """A streamed GET on a container endpoint, as a read()-able tar stream.

        The SDK's own archive and export calls keep the HTTP response to
        themselves; here it is closed on the way out, also when the reader
        stops early (an interrupt, an error). Left open, the engine keeps
        sending, and removing the container waits for its read timeout.
        """
        response = _api(
            what, self.client.api._get, self.client.api._url(endpoint, name), params=params, stream=True
        )
        try:
            if response.status_code == 404:
                raise PathProblem(f"{what}: not found")
            if response.status_code != 200:
                raise EngineError(f"{what}: HTTP {response.status_code} {response.text[:200]}")
            yield ChunkReader(response.iter_content(chunk_size=1 << 20))
        finally:
            response.close()

    @functools.cached_property
    def _info(self) -> dict:
        """``docker info``, read once: the image store and the storage driver."""
        return _api("reading the engine's info", self.client.info)

    @functools.cached_property
    def store(self) -> str:
        """The image store: "containerd" (Docker 29's default, Docker Desktop) or
        "classic" (moby's own). Image IDs, load archives and sizes differ by it."""
        pairs = self._info.get("DriverStatus") or []
        return "containerd" if ["driver-type", "io.containerd.snapshotter.v1"] in pairs else "classic"

    @functools.cached_property
    def naive_differ(self) -> str | None:
        """The storage driver, when it finds a layer's changes by comparing
        trees (size and mtime, a time of whole seconds equal to any in that
        second), not from where a build wrote: vfs, btrfs, zfs, devicemapper,
        and overlay without its native diff. A changed file of the same size
        and second as OLD's is then left out of what a Dockerfile's step
        makes (seen with rootless Podman on vfs). None for the others."""
        driver = self._info.get("Driver") or ""
        status = dict(pair for pair in self._info.get("DriverStatus") or [] if len(pair) == 2)
        if driver in NAIVE_DIFF_DRIVERS or status.get("Native Overlay Diff") == "false":
            return driver
        return None

    def image_manifest(self, image: dict) -> tuple:
        """The manifest of a local image on containerd's store: (media type, manifest).

        The engine's API gives no image's manifest but within ``docker save``,
        whose OCI layout lists blobs in digest order and the index last. So the
        stream is read only until the blobs needed have passed (the manifest is
        the image's ID; for an index, the platform's manifest), and closed:
        what OLD's layers sorted before them cost is read, never stored.
        """
        want = image["Id"]
        small = {}
        with self._raw_stream(f"reading the manifest of {want[:19]}", "/images/{0}/get", want) as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    if not member.isreg() or not member.name.startswith("blobs/sha256/"):
                        continue
                    if member.size <= SMALL_BLOB:
                        small["sha256:" + member.name.rsplit("/", 1)[1]] = tar.extractfile(member).read()
                    while want in small:
                        document = json.loads(small[want])
                        media_type = document.get("mediaType", "")
                        if media_type not in INDEXES:
                            return media_type, document
                        want = _platform_entry(document, image)
        raise EngineError(f"the engine's archive of {image['Id'][:19]} holds no manifest for it")

    def layer_content_bytes(self, image: str, wanted) -> dict:
        """diff ID -> bytes of file content, for the layers of ``image`` in ``wanted``.

        Read from the layers themselves, through the engine's save stream
        (``docker history`` sizes are disk usage on containerd's store).
        """
        found, _ = self.layer_names(image, wanted, lambda name: False)
        return {diff_id: content for diff_id, (content, _) in found.items()}

    def layer_names(self, image: str, wanted, keep) -> tuple:
        """({diff ID: (bytes of file content, [names for which ``keep(name)``])}, bytes read)
        for the layers of ``image`` in ``wanted``, read from the engine's save stream:
        each blob is decompressed and hashed to know which layer it is; contents
        pass by, never held. The stream is closed once every wanted layer was seen."""
        wanted, found, read = set(wanted), {}, 0
        if not wanted:
            return found, read
        with self._raw_stream(f"reading the layers of {image!r}", "/images/{0}/get", image) as stream:
            counted = Counting(stream)
            with open_tar(fileobj=counted) as tar:
                for member in tar:
                    if not member.isreg():
                        continue
                    names: list = []
                    identity = layer_identity(
                        tar.extractfile(member), lambda m, names=names: keep(m.name) and names.append(m.name)
                    )
                    if identity and identity[0] in wanted:
                        found[identity[0]] = (identity[1], names)
                        if wanted <= set(found):
                            break
            read = counted.count
        missing = wanted - set(found)
        if missing:
            raise EngineError(f"the engine's archive of {image!r} lacks layer {sorted(missing)[0][:19]}")
        return found, read

    def history(self, image: str) -> list:
        """``docker history`` entries of ``image``, newest first."""
        return _api(f"reading the history of {image!r}", self.client.api.history, image)

    def inspect_container(self, cid: str) -> dict:
        return _api(f"inspecting container {cid}", self.client.api.inspect_container, cid)

    def _build_cache_ids(self) -> set:
        """The IDs of BuildKit's cache records.

        Asks for the build cache only (API 1.42+, Docker 23+): the full
        ``docker system df`` also lists every container, and on the containerd
        store that fails while another run removes one ("rw layer snapshot not
        found"). Older engines ignore the filter; a failed listing is tried again.
        """
        api = self.client.api
        params = {"type": "build-cache"} if docker.utils.version_gte(api.api_version, "1.42") else None
        for attempt in range(3):
            try:
                usage = _api(
                    "reading the build cache",
                    api._result,
                    api._get(api._url("/system/df"), params=params),
                    True,
                )
                return {record["ID"] for record in usage.get("BuildCache") or []}
            except EngineError:
                if attempt == 2:
                    raise
                time.sleep(0.5)

    @contextlib.contextmanager
    def cache_left_as_found(self):
        """Remove the build cache records made inside the block once it ends.

        The differ's step and the Dockerfile method's build hold the changed
        bytes (the differ's output, the build context, the ADD layer): each
        would stay in BuildKit's cache, twice the change per run. Records in
        use and those made before are left alone; the image built keeps its
        layers (the cache only refers to them). Runs of the kit on this
        machine take turns (a file lock), so none prunes another's records
        while its build is under way.
        """
        with open(BUILD_CACHE_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            before = self._build_cache_ids()
            try:
                yield
            finally:
                with contextlib.suppress(docker.errors.DockerException, RequestException, EngineError):
                    self._prune_cache_records(before)

    def _prune_cache_records(self, kept: set) -> None:
        """Prune the build cache records not in ``kept``. One BuildKit holds
        while an image built from it exists (an ADD layer) is left: it goes
        with the image. A record the engine fails to prune does not stop the
        others from going (each holds the change, possibly)."""
        for record in sorted(self._build_cache_ids() - kept):  # the engine takes one value a filter
            with contextlib.suppress(docker.errors.APIError, RequestException):
                self.client.api.prune_builds(filters={"id": record})

    def export_build(self, context: Path, dest: Path) -> list:
        """Build ``context`` with BuildKit, its result exported into ``dest``,
        leaving no build cache (``cache_left_as_found``); on Podman with
        Buildah (``_buildah_export``).

        Tries each docker CLI in turn (the SDK cannot build with BuildKit);
        returns why each one that failed did, empty on success.
        """
        if self.is_podman:
            return self._buildah_export(context, dest)
        failures = []
        for cli in self.clis:
            if shutil.which(cli) is None:
                continue
            argv = [cli, "build", "--network", "none", "--output", f"type=local,dest={dest}", str(context)]
            try:
                with self.cache_left_as_found():
                    process.run(argv, env=self._cli_env())
            except CommandFailed as exc:
                last = exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else str(exc)
                failures.append(f"{cli}: {last}")
                shutil.rmtree(dest, ignore_errors=True)
                continue
            return []
        return failures or ["no docker CLI on PATH"]

    def _buildah_export(self, context: Path, dest: Path) -> list:
        """Podman: Buildah runs the same Dockerfile (its ``RUN`` mounts images
        in place as BuildKit's does), but the Docker-compatible API has no
        local exporter. The last stage (``FROM scratch``: the results) is
        committed under a tag of this run, its files copied out, the image
        removed; no step before it is kept (``layers=0``)."""
        api = self.client.api
        tag = f"{PASS_IMAGE}:{os.getpid()}-{time.monotonic_ns()}"
        params = {
            "t": tag, "rm": "1", "forcerm": "1", "nocache": "1", "layers": "0", "q": "1",
            "networkmode": PODMAN_NETWORK_DISABLED, "labels": json.dumps(self._labels("pass")),
        }  # fmt: skip
        errors = []
        try:
            with tempfile.TemporaryFile() as body:
                with tarfile.open(fileobj=body, mode="w") as tar:
                    for item in sorted(Path(context).iterdir()):
                        if item != Path(dest):
                            tar.add(str(item), arcname=item.name)
                body.seek(0)
                with uninterrupted():
                    response = _api(
                        "building the pass with Buildah",
                        api._post,
                        api._url("/build"),
                        params=params,
                        data=body,
                        headers={"Content-Type": "application/x-tar"},
                        stream=True,
                    )
                    errors = [
                        e["error"].strip() for e in api._stream_helper(response, decode=True) if "error" in e
                    ]
            if errors:
                return [f"Podman's build: {errors[-1]}"]
            Path(dest).mkdir(parents=True, exist_ok=True)
            create = lambda: self._create_idle(tag, "pass")  # noqa: E731
            with _owned(create, self._remove_container()) as cid:
                self.copy_out(cid, "/", Path(dest))
            return []
        finally:
            with uninterrupted(), contextlib.suppress(docker.errors.DockerException, RequestException):
                _removed(lambda name: api.remove_image(name, force=True), tag)

    @classmethod
    def connect(
        cls,
        client=None,
        docker_cli: str | None = None,
        builder="auto",
        compare="auto",
        timeout=ENGINE_TIMEOUT,
    ) -> "Engine":
        """An engine on ``client``, or the first that answers where Docker's and
        Podman's users expect one (``enginehost``); say where it looked when none
        does. ``timeout``: seconds a call may go without an answer (``is_engine_error``)."""
        if client is not None:
            return cls(client, docker_cli=docker_cli, builder=builder, compare=compare)
        tried = []
        for endpoint in enginehost.here():
            try:
                client = endpoint.client(timeout)
                client.ping()
            except docker.errors.DockerException as exc:
                tried.append(f"{endpoint.host} ({endpoint.named_by}): {exc}")
                continue
            return cls(client, docker_cli=docker_cli, builder=builder, compare=compare, endpoint=endpoint)
        raise EngineError(
            "cannot reach a container engine; is it running? Looked at "
            + "; ".join(tried)
            + ". Set DOCKER_HOST (or CONTAINER_HOST for Podman), or choose a Docker context"
        )

    def describe(self) -> str:
        """The engine as a bug report needs it: version, API, store, builder, how trees are exposed."""
        version = self.client.version()
        return (
            f"Docker {version.get('Version')} (API {version.get('ApiVersion')}), {self.store} image store, "
            f"builder {self.builder} (BuildKit CLI: {self.buildkit_cli or 'none'}), compare {self.compare}"
        )

    def platform(self) -> tuple:
        """(os, architecture) the engine runs, as image configs name them: an
        index in a registry is read for this platform."""
        version = _api("asking the engine its version", self.client.version)
        return version.get("Os", "linux"), version.get("Arch", "amd64")

    def inspect_image(self, ref: str) -> dict:
        """``docker image inspect`` for one local image (no pull is attempted)."""
        try:
            return self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            raise ImageNotFound(
                f"image {ref!r} is not in the local engine (build or pull it first)"
            ) from None
        except docker.errors.APIError as exc:
            raise EngineError(f"inspecting image {ref!r}: {exc.explanation or exc}") from None

    def has_image(self, ref: str) -> bool:
        """Is ``ref`` in the local engine? (No pull is attempted.)"""
        try:
            self.inspect_image(ref)
            return True
        except ImageNotFound:
            return False

    def image_with_layers(self, layers: list) -> str | None:
        """A tag of a local image made of exactly ``layers`` (diff IDs, bottom
        first): the image two others were built FROM, when it is still here."""
        return next((tag for tag, found in self._tagged_layers() if found == list(layers)), None)

    def base_image(self, layers: list) -> tuple | None:
        """(a tag, its layer count) of the local image whose layers are the
        longest proper start of ``layers``: the image one made of ``layers``
        was built FROM, when it is still here; None where none is."""
        best = None
        for tag, found in self._tagged_layers():
            if 0 < len(found) < len(layers) and list(layers[: len(found)]) == found:
                if best is None or len(found) > best[1]:
                    best = (tag, len(found))
        return best

    def _tagged_layers(self):
        """(first tag, diff IDs) of each tagged local image with content."""
        listed = _api("listing images", self.client.api.images)
        for image in listed:
            tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
            if not tags or image.get("Size", 0) <= 0:
                continue
            try:
                found = self.client.api.inspect_image(image["Id"])
            except docker.errors.APIError:
                continue  # removed meanwhile
            yield tags[0], found.get("RootFS", {}).get("Layers") or []

    def _remove_container(self):
        return lambda cid: self.client.api.remove_container(cid, force=True, v=True)

    def _create_idle(self, image: str, role: str, labels=None, binds=None) -> str:
        """Create (never start) a container of ``image``; return its ID.

        Creating it needs no shell or command in the image: nothing runs.
        Docker fills an empty named volume from the image as it creates the
        container; Podman only as it initializes one, which its own API does
        without starting it: the volumes are filled first, then the runtime is
        asked to create the process, which fails on the placeholder command
        (and must: nothing of the image may run).
        """
        cid = _api(
            f"creating a container of {image!r}",
            self.client.api.create_container,
            image,
            command=[PLACEHOLDER],
            entrypoint=[],
            network_disabled=True,
            labels={**self._labels(role), **(labels or {})},
            host_config=self.client.api.create_host_config(binds=binds) if binds else None,
        )["Id"]
        if binds and self.is_podman:
            url = f"{self.client.api.base_url}/v4.0.0/libpod/containers/{cid}/init"
            answer = self.client.api._post(url)
            if answer.status_code not in (204, 304) and PLACEHOLDER not in answer.text:
                said = f"HTTP {answer.status_code} {answer.text[:200]}"
                raise EngineError(f"filling volumes from {image!r} (Podman's init): {said}")
        return cid

    @contextlib.contextmanager
    def throwaway_container(self, image: str, role: str, labels=None, binds=None):
        """A created, never started container of ``image``, removed afterwards."""
        create = lambda: self._create_idle(image, role, labels, binds)
        with _owned(create, self._remove_container()) as cid:
            yield cid

    def path_kind(self, image: str, path: str) -> str:
        """'dir', 'file', 'symlink' or 'missing': what ``path`` is in ``image``.

        Uses HEAD on the archive endpoint, which returns the stat header without
        sending the tree.
        """
        with self.throwaway_container(image, "stat") as cid:
            response = self.client.api.head(
                self.client.api._url("/containers/{0}/archive", cid), params={"path": path}
            )
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

    def require_directory(self, image: str, path: str) -> None:
        """Fail clearly unless ``path`` is a real directory in ``image``.

        A missing path would be exposed as an empty volume, which looks like
        everything was removed (or added); a symlink would be compared as a link.
        """
        kind = self.path_kind(image, path)
        if kind != "dir":
            what = {"missing": "does not exist", "file": "is a file", "symlink": "is a symlink"}[kind]
            raise PathProblem(
                f"{path} {what} in image {image!r}; the compared path must be a directory in both images"
            )

    @contextlib.contextmanager
    def filesystem_archive(self, image: str):
        """Yield a tar stream of the whole filesystem of ``image`` (docker export)."""
        with (
            self.throwaway_container(image, "export") as cid,
            self._raw_stream(f"exporting {image!r}", "/containers/{0}/export", cid) as stream,
        ):
            yield stream

    @contextlib.contextmanager
    def tree_archive(self, image: str, path: str):
        """Yield a tar stream of ``path`` in ``image`` (members ``basename/...``).

        Read through a container, so refused where the container would show
        Docker's stand-ins instead of the image's entries (``stand_ins_under``).
        """
        refuse_stand_ins(path, image)
        with (
            self.throwaway_container(image, "export") as cid,
            self._raw_stream(
                f"reading {path} in image {image!r}", "/containers/{0}/archive", cid, {"path": path}
            ) as stream,
        ):
            yield stream

    def entry_header(self, image: str, path: str) -> tarfile.TarInfo:
        """NEW's tar header of ``path`` itself (owner, mode), without its contents.

        The archive endpoint has no depth limit, so the stream is read up to the
        first member and the connection closed; the engine stops there.
        """
        with (
            self.throwaway_container(image, "stat") as cid,
            self._raw_stream(
                f"reading {path} in {image!r}", "/containers/{0}/archive", cid, {"path": path}
            ) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            return tar.next()

    def load(self, archive: Path, what: str) -> None:
        """``docker load`` the archive at ``archive``; engine errors name ``what``."""
        with open(archive, "rb") as handle, uninterrupted():
            messages = _api(f"loading {what}", self.client.api.load_image, handle)
            for message in messages or ():
                if "error" in message or "errorDetail" in message:
                    detail = message.get("error") or message["errorDetail"].get("message")
                    raise EngineError(f"loading {what}: {detail}")

    def remove_containers(self, ids) -> None:
        """Remove containers by ID, ignoring ones already gone."""
        for cid in ids:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(cid, force=True, v=True)

    def compose_containers(self, project: str, service: str) -> list:
        """IDs of a Compose project's containers for one service."""
        return [
            c["Id"]
            for c in self.client.api.containers(
                all=True,
                filters={
                    "label": [
                        f"com.docker.compose.project={project}",
                        f"com.docker.compose.service={service}",
                    ]
                },
            )
        ]

    @contextlib.contextmanager
    def tree_volumes(self, images: dict, path: str, run_id: str):
        """New named volumes holding ``path`` of each image (role -> image); yield
        role -> volume name, and remove them afterwards.

        Docker copies the image's files into an empty volume when a container is
        created on it (removed at once, never started). The copies are made at
        the same time, one create call per image: on large trees they are most of
        the diff's time.
        """
        for image in images.values():
            refuse_stand_ins(path, image)
        with contextlib.ExitStack() as stack:
            names = {}
            for role in images:
                name = f"difflayers-{run_id}-{role}"
                create = lambda name=name, role=role: _api(
                    f"creating volume {name}",
                    self.client.api.create_volume,
                    name=name,
                    labels=self._labels(role, run_id),
                )["Name"]
                names[role] = stack.enter_context(
                    _owned(create, lambda v: self.client.api.remove_volume(v, force=True))
                )
            created, failures = [], []

            def fill(role):
                binds = {names[role]: {"bind": path, "mode": "rw"}}
                try:
                    created.append(self._create_idle(images[role], role, self._labels(role, run_id), binds))
                except Exception as exc:  # noqa: BLE001 - re-raised below, in the caller's thread
                    failures.append(exc)

            try:
                with uninterrupted():
                    threads = [threading.Thread(target=fill, args=(role,)) for role in images]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join()
            finally:
                with uninterrupted():
                    for cid in created:
                        with contextlib.suppress(docker.errors.APIError):
                            self.client.api.remove_container(cid, force=True, v=True)
            if failures:
                raise failures[0]
            yield names

    @contextlib.contextmanager
    def finished_container(self, command: list, binds: dict, run_id: str, role: str):
        """Run ``command`` in the kit's tool image; yield (id, exit code, logs) once it ends."""
        create = lambda: _api(
            f"creating the {role} container",
            self.client.api.create_container,
            TOOL_IMAGE,
            command=command,
            network_disabled=True,
            labels=self._labels(role, run_id),
            host_config=self.client.api.create_host_config(binds=binds),
        )["Id"]
        with _owned(create, self._remove_container()) as cid:
            _api(f"starting the {role} container", self.client.api.start, cid)
            status = self.client.api.wait(cid)["StatusCode"]
            logs = self.client.api.logs(cid, stdout=True, stderr=True).decode("utf-8", "replace")
            yield cid, status, logs

    def copy_out(self, cid: str, path: str, dest: Path) -> list:
        """Copy the regular files directly in ``path`` of a container to ``dest``, whole."""
        from difflayers.core.outputs import atomic_file

        chunks, _ = _api(f"copying {path} out of the container", self.client.api.get_archive, cid, path)
        written = []
        with tarfile.open(fileobj=ChunkReader(chunks), mode="r|") as tar:
            for member in tar:
                parts = member.name.split("/")
                if member.isreg() and len(parts) == 2 and parts[1] not in ("", ".", ".."):
                    with atomic_file(Path(dest) / parts[1]) as handle:
                        shutil.copyfileobj(tar.extractfile(member), handle, 1 << 20)
                    written.append(parts[1])
        return written

    def build(
        self,
        files: dict,
        tag: str,
        progress=None,
        labels=None,
        network: bool = False,
        target=None,
        keep_cache: bool = True,
    ) -> str:
        """Build ``files`` (a context: name -> path) as ``tag``; return the image ID.

        With BuildKit where a docker CLI has it (what users run; the classic
        builder is deprecated), else with the classic builder through the API;
        ``builder`` forces either. Steps reach no network unless ``network``.
        ``keep_cache=False``: the build cache records it made go (``cache_left_as_found``).
        """
        cli = self.buildkit_cli if self.builder != "classic" else None
        if self.builder == "buildkit" and cli is None:
            raise EngineError(f"no docker CLI here builds with BuildKit (tried {', '.join(self.clis)})")
        if cli is not None:
            kept = contextlib.nullcontext() if keep_cache else self.cache_left_as_found()
            with kept:
                return self._build_with_buildkit(cli, files, tag, progress, labels, network, target)
        return self._build_classic(files, tag, progress, labels, network, target)

    def _build_with_buildkit(self, cli: str, files: dict, tag: str, progress, labels, network, target) -> str:
        """``docker build`` with BuildKit: the image goes to the engine's store.

        Ctrl-C waits for the build to end, as with the classic builder: a CLI
        killed half-way leaves BuildKit to name the image after the run has
        removed its temporary tag, and an unverified image would stay behind.
        """
        if progress:
            progress(f"with BuildKit ({cli})")
        with tempfile.TemporaryDirectory(prefix="difflayers-context-") as folder:
            for name, source in files.items():
                _place(Path(source), Path(folder) / name)
            argv = [
                cli,
                "build",
                "--network",
                "default" if network else "none",
                "--progress",
                "plain",
                "-t",
                tag,
            ]
            argv += [f"--label={key}={value}" for key, value in sorted((labels or {}).items())]
            argv += ["--target", target] if target else []
            try:
                with uninterrupted():
                    process.run([*argv, folder], env=self._cli_env(), own_session=True)
            except CommandFailed as exc:
                tail = "\n".join(exc.stderr.strip().splitlines()[-10:])
                raise EngineError(f"building {tag} with BuildKit failed:\n{tail}") from None
        return self.inspect_image(tag)["Id"]

    def _build_classic(self, files: dict, tag: str, progress, labels, network, target) -> str:
        """The classic builder, through the API.

        The context is a tar in a temporary file (not memory: a delta can be large).
        Ctrl-C waits for the build to end: a build cut off leaves the classic
        builder's step containers behind.
        """
        with tempfile.TemporaryFile() as context, uninterrupted():
            with tarfile.open(fileobj=context, mode="w") as tar:
                for arcname, source in sorted(files.items()):
                    tar.add(str(source), arcname=arcname, recursive=True)
            context.seek(0)
            stream = _api(
                f"building {tag}",
                self.client.api.build,
                fileobj=context,
                custom_context=True,
                tag=tag,
                labels=labels,
                rm=True,
                forcerm=True,
                decode=True,
                network_mode=None if network else self.no_network,
                # Buildah's cache key leaves the network out: a step cached from a
                # build with one would bring back its /etc/hosts (``no_network``).
                nocache=self.is_podman and not network,
                target=target,
            )
            image_id, tail = None, []
            for event in stream:
                if "error" in event:
                    raise EngineError(
                        f"building {tag} failed: {event['error'].strip()}\n" + "".join(tail[-10:])
                    )
                text = event.get("stream", "")
                if text:
                    tail.append(text)
                    if progress and text.startswith("Step "):
                        progress(text.strip())
                if "aux" in event and "ID" in event["aux"]:
                    image_id = event["aux"]["ID"]
        if image_id is None:
            image_id = self.inspect_image(tag)["Id"]
        return image_id

    def ensure_tool_image(self, progress=None) -> None:
        """The kit's tool image (rsync and this package) must be in the engine,
        built from this code: the differ runs in it.

        It is (re)built here when missing or made from other sources (a label
        records their digest), from the checkout or from the installed package,
        which ships the Dockerfile and templates as package data.
        """
        try:
            labels = self.client.api.inspect_image(TOOL_IMAGE)["Config"].get("Labels") or {}
        except docker.errors.ImageNotFound:
            labels = None
        sources = _tool_sources()
        if not sources["Dockerfile"].is_file():
            if labels is not None:
                return
            raise EngineError(
                f"the kit's tool image {TOOL_IMAGE} is missing; build it from the kit's folder with "
                "`docker compose -f shell.docker-compose.yml build`"
            )
        digest = _sources_digest(sources)
        if labels is not None and labels.get(SOURCE_LABEL) == digest:
            return
        if progress:
            progress(f"building the kit's tool image {TOOL_IMAGE} from {sources['difflayers'].parent}")
        self.build(sources, TOOL_IMAGE, labels={SOURCE_LABEL: digest}, network=True, target=TOOL_TARGET)

    def sweep(self, run_id: str, attempts: int = 5) -> None:
        """Remove whatever still carries this run's label.

        An interrupted API call can leave the engine finishing (or still
        removing) something of ours; the label finds it. Containers go first, as
        they hold the volumes; the engine gets a moment between attempts.
        """
        with uninterrupted():
            for attempt in range(attempts):
                found = self.leftovers(run_id)
                if not found["containers"] and not found["volumes"]:
                    return
                for cid in found["containers"]:
                    with contextlib.suppress(docker.errors.APIError):
                        self.client.api.remove_container(cid, force=True, v=True)
                for name in found["volumes"]:
                    with contextlib.suppress(docker.errors.APIError):
                        self.client.api.remove_volume(name, force=True)
                time.sleep(0.2 * (attempt + 1))

    @contextlib.contextmanager
    def temporary_tag(self, run_id: str):
        """A tag for an image not yet verified; removed on the way out (with the
        image, unless another tag holds it), so a failed run publishes nothing."""
        # The owner in the tag: an image cannot be labelled after the fact,
        # and a sweep must know whose it is (see ``ownership``).
        tag = f"{UNVERIFIED_REPOSITORY}:{self.owner.text}-{run_id[:8]}"
        try:
            yield tag
        finally:
            with uninterrupted(), contextlib.suppress(docker.errors.APIError):
                self.client.api.remove_image(tag)

    def push(self, tag: str) -> None:
        """``docker push`` of ``tag``: the engine sends the layers the registry lacks."""
        from docker.utils import parse_repository_tag

        repository, name = parse_repository_tag(tag)
        for event in _api(
            f"pushing {tag}", self.client.api.push, repository, name or "latest", stream=True, decode=True
        ):
            if "error" in event:
                raise EngineError(f"pushing {tag}: {event['error'].strip()}")

    @contextlib.contextmanager
    def tag_put_back_on_failure(self, tag: str):
        """TAG names on a failure what it named on the way in: a run that tags
        and then fails (its push refused, say) leaves no tag behind, as exit 2
        promises. An image only that tag held goes with it."""
        before = self.inspect_image(tag)["Id"] if self.has_image(tag) else None
        try:
            yield
        except BaseException:
            with uninterrupted(), contextlib.suppress(docker.errors.APIError):
                if before is None:
                    self.client.api.remove_image(tag)
                else:
                    self.publish(before, tag)
            raise

    def publish(self, source: str, tag: str) -> None:
        """Give the verified image its final tag."""
        from docker.utils import parse_repository_tag

        repository, name = parse_repository_tag(tag)
        _api(f"tagging {tag}", self.client.api.tag, source, repository, name or "latest")

    def leftovers(self, run_id: str) -> dict:
        """Containers and volumes one run (``run_id``) left behind."""
        flt = {"label": [f"{RUN_LABEL}={run_id}"]}
        return {
            "containers": [c["Id"] for c in self.client.api.containers(all=True, filters=flt)],
            "volumes": [v["Name"] for v in (self.client.api.volumes(filters=flt).get("Volumes") or [])],
        }

    def sweep_dead(self) -> Swept:
        """Remove what runs whose process is gone left behind: containers,
        volumes, unverified tags (in the engine) and temporary folders (here).

        Only owners on this machine are judged (see ``ownership``).
        """
        swept = Swept()
        with uninterrupted():
            flt = {"label": [OWNER_LABEL]}
            for container in self.client.api.containers(all=True, filters=flt):
                if owner_gone((container.get("Labels") or {}).get(OWNER_LABEL)):
                    with contextlib.suppress(docker.errors.APIError):
                        self.client.api.remove_container(container["Id"], force=True, v=True)
                        swept.containers += 1
            for volume in self.client.api.volumes(filters=flt).get("Volumes") or []:
                if owner_gone((volume.get("Labels") or {}).get(OWNER_LABEL)):
                    with contextlib.suppress(docker.errors.APIError):
                        self.client.api.remove_volume(volume["Name"], force=True)
                        swept.volumes += 1
            for image in self.client.api.images(name=UNVERIFIED_REPOSITORY):
                for tag in image.get("RepoTags") or []:
                    owner = tag.partition(":")[2].rsplit("-", 1)[0]
                    if owner_gone(owner):
                        with contextlib.suppress(docker.errors.APIError):
                            self.client.api.remove_image(tag)
                            swept.tags += 1
            for folder in dead_temp_dirs():
                swept.folder_bytes += folder_bytes(folder)
                remove_folder(folder)
                swept.folders += 1
        return swept
