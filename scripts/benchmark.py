#!/usr/bin/env python3
"""Every way of shipping NEW after OLD, side by side, measured in one run.

    .venv/bin/python scripts/benchmark.py                       # every scenario, this engine
    .venv/bin/python scripts/benchmark.py --scenario sample --case fresh --json out.json
    scripts/benchmark-both-stores.sh                            # both image stores, then
                                                                # docs/benchmark.json, its table, chart

Each scenario builds OLD and NEW from a fixed seed and ships NEW every way
this engine allows, in the same run: the naive rebuild (``FROM OLD`` +
``COPY app /app``, what the engine's own differ gives on this store),
BuildKit's ``COPY --link`` where the engine's BuildKit has it, the kit's
Dockerfile method, its layer method, its direct ``--push``, and the kit with
OLD only in the registry (the tree index: OLD's index built on the first run,
found on the second). Cases: a fresh checkout (every file of NEW with a new
mtime, as on a CI runner) and kept mtimes (unchanged files as in OLD).

Measured, not computed: bytes pushed (growth of a real registry's storage,
files only), bytes a node that has OLD pulls to get the image (a counting
proxy in front of that registry), wall time from NEW built to pushed
(and the time to get OLD onto a runner that does not have it), bytes read
from disk while the kit ran (machine-wide, page cache dropped first, when
allowed), the kit's peak memory, and temporary disk at its high-water mark
(machine-wide growth of the file systems of the engine and of /tmp, sampled).
The goals are printed beside each figure; nothing is asserted. The build
cache is pruned before each pull is measured (see ``CountingProxy.pull``).

Public tools only: the docker CLI, Debian's docker-registry and this kit.
"""

import argparse
import contextlib
import gzip
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
TAG = "difflayers-bench"
SCHEMA = "io.github.difflayers.benchmark"
VERSION = 2
CASES = ("fresh", "kept")
OLD_MTIME = 1_700_000_000  # every file of OLD; NEW's unchanged files keep it in the "kept" case


# -- scenarios -------------------------------------------------------------------------------


@dataclass
class Tree:
    """Files of a scenario: relative name -> bytes; ``changed``: NEW's names
    whose content differs from OLD's or is new."""

    old: dict
    new: dict
    changed: set = field(default_factory=set)
    removed: int = 0


@dataclass
class Scenario:
    name: str
    title: str
    make: object = None  # rng -> Tree; None: the scenario's own method (``Run._venv``, ``Run._refresh``)
    goals: dict = field(default_factory=dict)
    path: str = "/app"  # the kit's --path
    base_mb: int = 0  # the app's FROM image grows by this many MiB of files, in a layer of its own


def sample_tree(rng: random.Random) -> Tree:
    """The walkthrough's sample: 3, 1, 4, 2 and 6 MiB incompressible files."""
    old = {f"an-important-file-{i}": rng.randbytes(m * MIB) for i, m in enumerate((3, 1, 4, 2, 6), start=1)}
    old.update(
        {
            "sample-1.code": b"some text contents\n",
            "sample-2.code": b"some more text contents\n",
            "sample-3.code": b"even some more text contents\n",
        }
    )
    new = dict(old)
    new["sample-1.code"] += b"adding some text to an existing file\n" * 4
    new["sample-4.code"] = b"added some text contents to a new file\n"
    del new["sample-2.code"]
    return Tree(old, new, {"sample-1.code", "sample-4.code"}, 1)


def spread_tree(rng: random.Random, count: int, size: int, changed: int, added: int, removed: int) -> Tree:
    """``count`` files of ``size`` bytes in 100 folders; some changed, added, removed."""
    old = {f"d{i % 100:02d}/f{i:06d}.bin": rng.randbytes(size) for i in range(count)}
    new = dict(old)
    names = sorted(old)
    rng.shuffle(names)
    touched = set(names[:changed])
    for name in touched:
        new[name] = rng.randbytes(size)
    for name in names[changed : changed + removed]:
        del new[name]
    for i in range(added):
        new[f"added/n{i:04d}.bin"] = rng.randbytes(size)
        touched.add(f"added/n{i:04d}.bin")
    return Tree(old, new, touched, removed)


SCENARIOS = {
    "sample": Scenario("sample", "walkthrough sample (16 MiB)", sample_tree),
    "gib": Scenario(
        "gib",
        "1 GiB in 10,000 files, 1% changed, 5 added, 5 removed",
        lambda rng: spread_tree(rng, 10_000, 107_374, 100, 5, 5),
        {"time_ratio": 0.25},
    ),
    "small": Scenario(
        "small", "100,000 files of 1 KiB, 10 changed", lambda rng: spread_tree(rng, 100_000, 1024, 10, 0, 0)
    ),
    "app": Scenario(
        "app", "20 MB app in 2,000 files, 2% changed", lambda rng: spread_tree(rng, 2_000, 10_000, 40, 0, 0)
    ),
    "app-big-base": Scenario(
        "app-big-base",
        "the same app on a 1 GB base (800 MiB added to it)",
        lambda rng: spread_tree(random.Random("difflayers-benchmark-app"), 2_000, 10_000, 40, 0, 0),
        {"base_ratio": 1.2},
        base_mb=800,
    ),
    "venv": Scenario("venv", "Python venv from PyPI, requests 2.31.0 -> 2.32.3"),
    "refresh": Scenario(
        "refresh",
        "base image refresh: 3 files of the base patched, 1 added, 1 removed; 1 app file changed",
        path="/",
    ),
}

VENV_BASE = f"{TAG}:python-base"
VENV_BASE_DOCKERFILE = """FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \\
 && rm -rf /var/lib/apt/lists/*
"""
VENV_DOCKERFILE = """FROM {base} AS build
COPY ca.crt /ca.crt
RUN python3 -m venv /app/venv && /app/venv/bin/pip install --no-cache-dir --cert /ca.crt {pins}
FROM {base}
COPY --from=build /app /app
"""
VENV_PINS = "urllib3==2.2.3 idna==3.10 certifi==2024.8.30 charset-normalizer==3.4.0"
VENV_REVISIONS = {"old": "requests==2.31.0", "new": "requests==2.32.3"}
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


# -- tools -----------------------------------------------------------------------------------


def sh(*args, cwd=None, env=None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{result.stderr[-2000:]}")
    return result.stdout


STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"## [{time.monotonic() - STARTED:6.0f} s] {text}", file=sys.stderr, flush=True)


def buildkit_cli() -> str | None:
    """A docker CLI that builds with BuildKit (``DOCKER_BUILDKIT=1``)."""
    for candidate in ("docker", "/usr/bin/docker"):
        if shutil.which(candidate) is None:
            continue
        if subprocess.run([candidate, "buildx", "version"], capture_output=True).returncode == 0:
            return candidate
        version = subprocess.run(
            [candidate, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
        )
        if version.returncode == 0 and version.stdout.split(".")[0] in ("19", "20", "21", "22"):
            return candidate
    return None


def build(context: Path, tag: str, dockerfile: str = "Dockerfile") -> float:
    """``docker build`` with BuildKit (as users build); its wall time."""
    cli = buildkit_cli() or "docker"
    started = time.monotonic()
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    sh(cli, "build", "-q", "-f", dockerfile, "-t", tag, ".", cwd=context, env=env)
    return time.monotonic() - started


def image_store() -> str:
    status = sh("docker", "info", "--format", "{{json .DriverStatus}}")
    return "containerd" if "io.containerd.snapshotter" in status else "classic"


def added_above(image: str, base: str) -> tuple:
    """(layers, bytes of file content) ``image`` adds on ``base``, read from the
    layers (``difflayers report``): ``docker history`` sizes are disk usage on
    containerd's image store."""
    figures = json.loads(
        sh(sys.executable, "-m", "difflayers", "-q", "report", image, "--base", base, "--json")
    )
    return len(figures["layers"]), figures["bytes_added"]


def stamp() -> dict:
    """What each row names: date, engine, image store, commit, machine."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = sh("git", "rev-parse", "--short=12", "HEAD", cwd=KIT).strip()
    if sh("git", "status", "--porcelain", "--untracked-files=no", cwd=KIT).strip():
        commit += "+changes"
    return {
        "date": time.strftime("%Y-%m-%d"),
        "engine": sh("docker", "version", "--format", "{{.Server.Version}}").strip(),
        "store": image_store(),
        "commit": commit,
        "machine": f"{os.cpu_count()} cores, {memory:.0f} GiB",
    }


# -- measuring -------------------------------------------------------------------------------


def _disk_sectors_read() -> int:
    """Sectors read from whole disks since boot (/proc/diskstats)."""
    total = 0
    with open("/proc/diskstats") as stats:
        for line in stats:
            parts = line.split()
            name = parts[2]
            if name.startswith(("loop", "ram", "dm-")) or name[-1].isdigit() and not name.startswith("nvme"):
                continue
            if name.startswith("nvme") and "p" in name[4:]:
                continue
            total += int(parts[5])
    return total


def _read_chars(pid: int) -> int:
    """Bytes a live process has read (files, pipes, sockets: /proc/PID/io rchar)."""
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def _used(path: str) -> int:
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def _peak_mib(pid: int) -> float:
    """A live process's resident high-water mark (VmHWM: afresh at exec)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Watch:
    """Samples while a command runs: its peak memory, temporary disk (growth
    of the file systems of the engine's data and of /tmp), bytes read from disk."""

    def __init__(self, data_root: str):
        paths = {data_root, tempfile.gettempdir()}
        devices = {}
        for path in paths:
            with contextlib.suppress(OSError):
                devices.setdefault(os.stat(path).st_dev, path)
        self.paths = list(devices.values())

    def run(self, argv: list, env=None, label: str | None = None) -> dict:
        """``label``: the run's name in ``PHASES``, where its progress is kept."""
        start_used = sum(_used(p) for p in self.paths)
        start_read = _disk_sectors_read()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.monotonic()
            proc = subprocess.Popen(argv, cwd=KIT, stdout=out, stderr=err, env=env)
            peak, disk, read = 0.0, 0, 0
            while proc.poll() is None:
                with contextlib.suppress(OSError):
                    peak = max(peak, _peak_mib(proc.pid))
                    read = max(read, _read_chars(proc.pid))
                disk = max(disk, sum(_used(p) for p in self.paths) - start_used)
                time.sleep(0.05)
            wall = time.monotonic() - started
            out.seek(0)
            err.seek(0)
            if PHASES and label:
                (PHASES / f"{label}.log").write_bytes(err.read())
                err.seek(0)
            if proc.returncode not in (0, 3):
                raise SystemExit(f"{' '.join(argv)} failed:\n{err.read().decode()[-3000:]}")
            stdout = out.read().decode()
        return {
            "stdout": stdout,
            "wall_seconds": round(wall, 1),
            "peak_rss_mib": round(peak, 1),
            "temp_disk_peak_bytes": max(disk, 0),
            "kit_read_bytes": read,  # by the kit's own process, sampled: a lower bound
            "disk_read_bytes": (_disk_sectors_read() - start_read) * 512,  # machine-wide, from the disks
        }


class Registry:
    """docker-registry on a free loopback port, with storage of its own.

    Each way of shipping NEW is measured in a registry of its own that holds
    OLD and nothing else (``way``): the same address, its storage a hardlinked
    copy of OLD's. Blobs are stored once per registry, so ways pushed into
    one registry would find each other's layers there.

    With ``link`` (bytes/s) every client reaches it through a ``Link``: its
    ``address`` is the link's, so ``docker push``, ``docker pull`` and the kit
    all pay the same speed.
    """

    def __init__(self, root: Path, link: int | None = None):
        self.binary = shutil.which("docker-registry") or shutil.which("registry")
        if self.binary is None:
            raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.backend = f"127.0.0.1:{free_port()}"
        self.link = Link(self.backend, link) if link else None
        self.address = self.link.address if self.link else self.backend
        self.proc = None
        self._serve(root / "storage")

    def _serve(self, storage: Path) -> None:
        self.close()
        self.storage = storage
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {storage}\nhttp:\n  addr: {self.backend}\n"
        )
        self.proc = subprocess.Popen(
            [self.binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(f"http://{self.address}/v2/")

    @contextlib.contextmanager
    def way(self, name: str):
        """A registry holding what this one holds now (OLD), for one way."""
        base, copy = self.storage, self.root / f"way-{name}"
        shutil.rmtree(copy, ignore_errors=True)
        if base.exists():
            sh("cp", "-al", base, copy)
        try:
            self._serve(copy)
            yield self
        finally:
            self._serve(base)
            shutil.rmtree(copy, ignore_errors=True)

    def stored(self) -> int:
        """Bytes in the registry's storage (files only)."""
        if not self.storage.exists():
            return 0
        return sum(p.stat().st_size for p in self.storage.rglob("*") if p.is_file())

    def push(self, image: str, name: str) -> dict:
        """``docker push`` of ``image`` as ``name``: storage growth and wall time."""
        remote = f"{self.address}/{TAG}:{name}"
        sh("docker", "tag", image, remote)
        before, started = self.stored(), time.monotonic()
        sh("docker", "push", remote)
        seconds = time.monotonic() - started
        sh("docker", "image", "rm", remote)
        return {"pushed_bytes": self.stored() - before, "push_seconds": round(seconds, 1)}

    def manifest(self, name: str) -> dict:
        request = urllib.request.Request(
            f"http://{self.address}/v2/{TAG}/manifests/{name}",
            headers={
                "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.manifest.v1+json"
            },
        )
        return json.loads(urllib.request.urlopen(request, timeout=30).read())

    def close(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def shut(self):
        """The registry stopped for good, and its link."""
        self.close()
        if self.link is not None:
            self.link.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


class Proxy:
    """A loopback TCP proxy to ``upstream`` (host:port); ``_passed`` sees each
    chunk, ``down`` true for the replies to the client, before it goes on."""

    CHUNK = 1 << 16

    def __init__(self, upstream: str):
        host, port = upstream.split(":")
        self.upstream = (host, int(port))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:  # the registry is restarting between two ways
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source, dest, down: bool):
        with contextlib.suppress(OSError):
            while data := source.recv(self.CHUNK):
                self._passed(len(data), down)
                dest.sendall(data)
        with contextlib.suppress(OSError):
            dest.shutdown(socket.SHUT_WR)

    def _passed(self, size: int, down: bool) -> None:
        pass

    def close(self):
        self.server.close()


class Link(Proxy):
    """A link of ``rate`` bytes/s each way between the registry and its
    clients (a runner's network, e.g. 100 MB/s for 800 Mbit/s): every
    connection's chunks in one direction share it, as parallel layer uploads
    share a runner's uplink. Latency is not added."""

    CHUNK = 1 << 18

    def __init__(self, upstream: str, rate: int):
        self.rate = rate
        self.free_at = {False: 0.0, True: 0.0}  # when each direction is next free
        self.lock = threading.Lock()
        super().__init__(upstream)

    def _passed(self, size: int, down: bool) -> None:
        with self.lock:
            start = max(time.monotonic(), self.free_at[down])
            self.free_at[down] = until = start + size / self.rate
        time.sleep(max(0.0, until - time.monotonic()))


class CountingProxy(Proxy):
    """A loopback TCP proxy in front of the registry that counts the bytes it
    sends to its clients: what ``docker pull`` through it downloads."""

    def __init__(self, registry, store: str):
        self.store = store
        self.sent = 0
        self.lock = threading.Lock()
        super().__init__(registry.address)

    def _passed(self, size: int, down: bool) -> None:
        if down:
            with self.lock:
                self.sent += size

    def pull(self, name: str, old_name: str):
        """Bytes ``docker pull`` of ``name`` downloads through the proxy on the
        engine that has OLD (``old_name``), the image removed again afterwards;
        the build cache is pruned first, as it may hold the image's layers.

        None on containerd's store: there the snapshots of a removed image stay
        (held by leases) and a pull skips the layers it finds unpacked, so one
        engine cannot play a node that has only OLD.
        """
        if self.store == "containerd":
            return None
        ref = f"{self.address}/{TAG}:{name}"
        sh("docker", "builder", "prune", "-af")
        before = self.sent
        sh("docker", "pull", "-q", ref)
        sh("docker", "image", "rm", ref)
        time.sleep(0.2)  # the last replies drain
        return self.sent - before


# -- one scenario ----------------------------------------------------------------------------


def ready_tool_image() -> None:
    """Untimed: the kit's tool image built (from this checkout) before any way
    is measured, as on a runner that ran the kit before; else the first way of
    the run pays its build."""
    code = (
        "from difflayers.adapters.engine import Engine\n"
        "Engine.connect().ensure_tool_image(lambda line: None)\n"
    )
    sh(sys.executable, "-c", code, cwd=KIT)


def warm_buildkit(image: str, work: Path) -> None:
    """Untimed: BuildKit's records of the kit's tool image and of ``image``'s
    layers, as a runner has them after building NEW and running the kit once.
    On the classic store BuildKit makes a record of each image a build first
    mounts (3.5 s here for one holding an 800 MiB layer), and the pull by a
    node with OLD prunes them all before each way (``CountingProxy.pull``):
    the way after would pay it for NEW, which a runner that just built NEW
    does not. OLD and the FROM image stay as a runner has them: cold."""
    from difflayers.adapters.engine import TOOL_IMAGE

    context = work / "warm"
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(
        f"FROM {TOOL_IMAGE} AS warm\nRUN --mount=type=bind,from={image},target=/image touch /warmed\n"
        "FROM scratch\nCOPY --from=warm /warmed /\n"
    )
    cli = buildkit_cli() or "docker"
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    out = f"type=local,dest={context / 'out'}"
    sh(cli, "build", "-q", "--no-cache", "-o", out, ".", cwd=context, env=env)
    shutil.rmtree(context)


# --phases DIR: each timed run of the kit prints its progress (each step with
# its time) into DIR/<scenario>-<way>.log, where the time goes.
PHASES: Path | None = None


def kit_argv(*args) -> list:
    return [sys.executable, "-m", "difflayers", *([] if PHASES else ["--quiet"]), *args, "--json"]


def write_context(context: Path, files: dict, mtimes: dict, dockerfile: str) -> None:
    (context / "app").mkdir(parents=True)
    for name, data in files.items():
        path = context / "app" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stamp_time = mtimes.get(name)
        if stamp_time is not None:
            os.utime(path, (stamp_time, stamp_time))
    for folder in sorted((context / "app").rglob("*"), reverse=True):
        if folder.is_dir():
            os.utime(folder, (OLD_MTIME, OLD_MTIME))
    (context / "Dockerfile").write_text(dockerfile)


def compressed_size(tree: Tree) -> int:
    """The changed files' compressed size: the floor a pushed delta cannot beat."""
    return sum(len(gzip.compress(tree.new[name], 6)) for name in tree.changed)


class Run:
    """One scenario on this engine: OLD built, pushed and pulled back once;
    then each case, each way of shipping NEW, measured."""

    def __init__(self, scenario: Scenario, base: str, work: Path, registry, proxy, watch, cases, stamped):
        self.scenario, self.base, self.work = scenario, base, work / scenario.name
        self.registry, self.proxy, self.watch, self.cases, self.stamped = (
            registry,
            proxy,
            watch,
            cases,
            stamped,
        )
        self.tags: list = []

    def tag(self, name: str) -> str:
        tag = f"{TAG}:{self.scenario.name}-{name}"
        self.tags.append(tag)
        return tag

    def rows(self) -> list:
        try:
            if self.scenario.make is None:
                return [getattr(self, f"_{self.scenario.name}")()]
            rng = random.Random(f"difflayers-benchmark-{self.scenario.name}")
            tree = self.scenario.make(rng)
            if self.scenario.base_mb:
                self.base = self._grown_base(self.scenario.base_mb)
            old = self._old(tree)
            return [self._case(tree, old, case) for case in self.cases]
        finally:
            subprocess.run(["docker", "image", "rm", "-f", *self.tags], capture_output=True)
            shutil.rmtree(self.work, ignore_errors=True)

    def _grown_base(self, mib: int) -> str:
        """``self.base`` with ``mib`` MiB of files of 8 MiB in a layer of its own:
        a big FROM image (a toolchain, a CUDA runtime) under the same app."""
        say(f"{self.scenario.title}: its base")
        context = self.work / "base"
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(
            f"FROM {self.base}\nRUN mkdir /opt/big && for i in $(seq {mib // 8}); do "
            "head -c 8388608 /dev/urandom > /opt/big/part-$i; done\n"
        )
        tag = self.tag("base")
        build(context, tag)
        shutil.rmtree(context)
        return tag

    def _old(self, tree: Tree) -> dict:
        """OLD built and published."""
        say(f"{self.scenario.title}: OLD")
        context = self.work / "old"
        write_context(
            context, tree.old, dict.fromkeys(tree.old, OLD_MTIME), f"FROM {self.base}\nCOPY app /app\n"
        )
        tag = self.tag("old")
        build(context, tag)
        return self._publish_old(tag, self.base)

    def _publish_old(self, tag: str, base: str) -> dict:
        """OLD pushed, removed and pulled back: what a runner without it pays
        (its layers above ``base``), and OLD as a runner has it: pulled, so that
        ``optimize --push`` finds it in the registry by its RepoDigest."""
        self.registry.push(tag, f"{self.scenario.name}-old")
        remote = f"{self.registry.address}/{TAG}:{self.scenario.name}-old"
        sh("docker", "image", "rm", tag)
        sh("docker", "builder", "prune", "-af")  # it may hold OLD's layers: the pull would not fetch them
        started = time.monotonic()
        sh("docker", "pull", "-q", remote)
        pull_seconds = time.monotonic() - started
        sh("docker", "tag", remote, tag)
        self.tags.append(remote)
        return {
            "tag": tag,
            "remote": remote,
            "name": f"{self.scenario.name}-old",
            "pull_seconds": round(pull_seconds, 1),
            "bytes": added_above(tag, base)[1],
        }

    def _ways(self, context, old: dict, new: str, case: str) -> dict:
        """Every way of shipping NEW, each into a registry that holds OLD only."""
        steps = {
            "naive": (
                "the naive rebuild",
                lambda: self._built(context, "Dockerfile.naive", f"{case}-naive", old),
            ),
            "copy_link": (
                "COPY --link",
                lambda: self._built(context, "Dockerfile.link", f"{case}-link", old),
            ),
            "kit_dockerfile": (
                "the kit, Dockerfile method",
                lambda: self._kit_local(old, new, f"{case}-dockerfile", "dockerfile"),
            ),
            "kit_layer": (
                "the kit, layer method",
                lambda: self._kit_local(old, new, f"{case}-layer", "layer"),
            ),
            "kit_push": ("the kit with --push", lambda: self._kit_push(old, new, f"{case}-push")),
            "kit_push_indexed": (
                "the kit with --push, OLD's tree index beside it",
                lambda: self._kit_push(old, new, f"{case}-push-indexed", indexed=True),
            ),
            "kit_registry_only": (
                "the kit with OLD only in the registry",
                lambda: self._kit_registry_only(old, new, case),
            ),
        }
        ways = {}
        for key, (title, step) in steps.items():
            if context is None and key in ("naive", "copy_link"):
                continue
            say(f"{self.scenario.title}, {case}: {title}")
            warm_buildkit(new, self.work)
            with self.registry.way(key):
                ways[key] = step()
        return ways

    def _case(self, tree: Tree, old: dict, case: str) -> dict:
        name = self.scenario.name
        say(f"{self.scenario.title}, {case}: NEW")
        context = self.work / case
        now = time.time()
        mtimes = {n: (OLD_MTIME if case == "kept" and n not in tree.changed else now) for n in tree.new}
        write_context(context, tree.new, mtimes, f"FROM {self.base}\nCOPY app /app\n")
        new = self.tag(f"{case}-new")
        build(context, new)
        (context / "Dockerfile.naive").write_text(f"FROM {old['tag']}\nCOPY app /app\n")
        (context / "Dockerfile.link").write_text(f"FROM {old['tag']}\nCOPY --link app /app\n")
        ways = self._ways(context, old, new, case)
        floor = sum(len(tree.new[n]) for n in tree.changed)
        row = {
            **self.stamped,
            "scenario": name,
            "title": self.scenario.title,
            "case": case,
            "tree_bytes": sum(len(d) for d in tree.new.values()),
            "old_bytes": old["bytes"],
            "old_pull_seconds": old["pull_seconds"],
            "floor_bytes": floor,
            "floor_compressed_bytes": compressed_size(tree),
            "changed_entries": len(tree.changed) + tree.removed,
            "ways": ways,
        }
        row["goals"] = goals(self.scenario, row)
        for tag in [
            t for t in self.tags if t.endswith(tuple(f"-{case}-{w}" for w in ("new", "naive", "link")))
        ]:
            subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
        shutil.rmtree(context)
        return row

    def _built(self, context: Path, dockerfile: str, name: str, old: dict) -> dict:
        """A ``docker build`` on OLD: measured, pushed, pulled by a node with OLD."""
        tag = self.tag(name)
        try:
            seconds = build(context, tag, dockerfile)
        except SystemExit as exc:
            if dockerfile.endswith(".link"):  # the engine's BuildKit may predate COPY --link
                return {"applies": False, "why": str(exc).strip().splitlines()[-1][:200]}
            raise
        return self._shipped(tag, name, old, seconds, {"build_seconds": round(seconds, 1)})

    def _shipped(self, tag: str, name: str, old: dict, seconds: float, figures: dict) -> dict:
        """An image made on OLD in the engine: its layers, then pushed, removed,
        and pulled back by a node with OLD."""
        layers, content = added_above(tag, old["tag"])
        pushed = self.registry.push(tag, f"{self.scenario.name}-{name}")
        sh("docker", "image", "rm", tag)
        return {
            "applies": True,
            "layers": layers,
            "bytes": content,
            **figures,
            **pushed,
            "to_pushed_seconds": round(seconds + pushed["push_seconds"], 1),
            "pulled_bytes": self.proxy.pull(f"{self.scenario.name}-{name}", old["name"]),
        }

    def _kit_local(self, old: dict, new: str, name: str, method: str) -> dict:
        tag = self.tag(name)
        path = self.scenario.path
        argv = kit_argv("optimize", old["tag"], new, "--path", path, "-t", tag, "--method", method)
        try:
            kit = self.watch.run(argv, label=f"{self.scenario.name}-{name}")
        except SystemExit as exc:  # the Dockerfile method refuses what it cannot express
            if method != "dockerfile":
                raise
            return {"applies": False, "why": str(exc).strip().splitlines()[-1][:200]}
        summary = json.loads(kit.pop("stdout"))
        figures = {**kit, "step_seconds": summary.get("step_seconds", {}), "compared": summary["compared"]}
        return self._shipped(tag, name, old, kit["wall_seconds"], figures)

    def _kit_push(self, old: dict, new: str, name: str, indexed: bool = False) -> dict:
        """``optimize --push``: the layer method, pushed straight to OLD's registry.
        ``indexed``: OLD's tree index put beside OLD first (untimed, by ``difflayers
        index --push``), as every image the kit pushes has one: OLD's tree is then
        that index, and only NEW is read."""
        target = f"{self.registry.address}/{TAG}:{self.scenario.name}-{name}"
        if indexed:
            index = ["index", old["remote"], "--path", self.scenario.path, "--push"]
            sh(sys.executable, "-m", "difflayers", "-q", *index)
        before = self.registry.stored()
        argv = kit_argv("optimize", old["tag"], new, "--path", self.scenario.path, "--push", target)
        kit = self.watch.run(argv, label=f"{self.scenario.name}-{name}")
        summary = json.loads(kit.pop("stdout"))
        sh("docker", "image", "rm", "-f", target)
        return {
            "applies": True,
            "layers": summary["layers_added"],
            "bytes": summary["bytes_added"],
            "compared": summary["compared"],
            **kit,
            "pushed_bytes": self.registry.stored() - before,
            "to_pushed_seconds": kit["wall_seconds"],
            "pulled_bytes": self.proxy.pull(f"{self.scenario.name}-{name}", old["name"]),
        }

    def _kit_registry_only(self, old: dict, new: str, case: str) -> dict:
        """OLD only in the registry (pushed by ``docker push``, without an index:
        the first run builds it, the second finds it); measured: the second."""
        target = f"{self.registry.address}/{TAG}:{self.scenario.name}-{case}-remote"
        found = {}
        sh("docker", "image", "rm", old["remote"])  # OLD by its registry name is not in the engine
        for run in ("index_built", "index_found"):
            before = self.registry.stored()
            argv = kit_argv("optimize", old["remote"], new, "--path", self.scenario.path, "--push", target)
            try:
                kit = self.watch.run(argv, label=f"{self.scenario.name}-{case}-remote-{run}")
            except SystemExit as exc:  # NEW is read through a container: refused where it holds stand-ins
                sh("docker", "pull", "-q", old["remote"])
                return {"applies": False, "why": str(exc).strip().splitlines()[-1][:300]}
            summary = json.loads(kit.pop("stdout"))
            found[run] = {
                **kit,
                "downloaded_bytes": summary["registry_bytes_downloaded"],
                "old_layer_bytes_read": summary["old_index"]["layer_bytes_read"]
                + summary["old_layer_bytes_read"],
                "new_tree_bytes_read": summary["new_bytes_read"],
                "pushed_bytes": self.registry.stored() - before,
            }
        sh("docker", "pull", "-q", old["remote"])  # back, with the RepoDigest --push needs
        measured = found["index_found"]
        return {
            "applies": True,
            "layers": 1,
            "bytes": None,
            **{k: v for k, v in measured.items() if k != "pushed_bytes"},
            # Both runs push the same blobs: the first one's growth is the push.
            "pushed_bytes": found["index_built"]["pushed_bytes"],
            "to_pushed_seconds": measured["wall_seconds"],
            "pulled_bytes": self.proxy.pull(f"{self.scenario.name}-{case}-remote", old["name"]),
            "index_built": found["index_built"],
        }

    def _venv(self) -> dict:
        """A real tree: a venv from PyPI; NEW upgrades one package. Naive is NEW as built."""
        if not CA_BUNDLE.is_file():
            raise SystemExit(f"{CA_BUNDLE} is missing: containers cannot trust PyPI without it")
        say(f"{self.scenario.title}: the Python base")
        base_context = self.work / "python-base"
        base_context.mkdir(parents=True)
        (base_context / "Dockerfile").write_text(VENV_BASE_DOCKERFILE.format(base=self.base))
        build(base_context, VENV_BASE)
        built = {}
        for side, pin in VENV_REVISIONS.items():
            say(f"{self.scenario.title}: {side} ({pin})")
            context = self.work / side
            context.mkdir()
            shutil.copy(CA_BUNDLE, context / "ca.crt")
            (context / "Dockerfile").write_text(
                VENV_DOCKERFILE.format(base=VENV_BASE, pins=f"{pin} {VENV_PINS}")
            )
            built[side] = self.tag(side)
            build(context, built[side])
        old = self._publish_old(built["old"], VENV_BASE)
        layers, content = added_above(built["new"], VENV_BASE)
        ways = self._ways(None, old, built["new"], "as-built")
        naive = self._as_built(built["new"], old, layers, content, "pip writes a new venv")
        ways = {
            "naive": naive,
            "copy_link": {"applies": False, "why": "the venv is made by RUN pip, not copied"},
            **ways,
        }
        row = {
            **self.stamped,
            "scenario": "venv",
            "title": self.scenario.title,
            "case": "as built",
            "tree_bytes": content,
            "old_bytes": old["bytes"],
            "old_pull_seconds": None,
            "floor_bytes": None,
            "floor_compressed_bytes": None,
            "changed_entries": None,
            "ways": ways,
        }
        row["goals"] = goals(self.scenario, row)
        self.tags.append(VENV_BASE)
        return row

    def _as_built(self, new: str, old: dict, layers: int, content: int, why: str) -> dict:
        """NEW as built, pushed: the naive way where no rebuild on OLD applies."""
        say(f"{self.scenario.title}: NEW as built (the naive way here)")
        name = f"{self.scenario.name}-naive"
        with self.registry.way("naive"):
            pushed = self.registry.push(new, name)
            # The node has OLD only: NEW leaves the engine before the pull is measured.
            sh("docker", "image", "rm", new)
            return {
                "applies": True,
                "layers": layers,
                "bytes": content,
                **pushed,
                "to_pushed_seconds": pushed["push_seconds"],
                "pulled_bytes": self.proxy.pull(name, old["name"]),
                "note": f"NEW as built: {why}, no rebuild on OLD applies",
            }

    def _refresh(self) -> dict:
        """A base-image refresh: NEW on the base's one layer re-made with a few
        files patched, added and removed (as a security update), so NEW shares
        no layer with OLD; the kit compares the whole image (``--path /``)."""
        say(f"{self.scenario.title}: the refreshed base")
        rng = random.Random("difflayers-benchmark-refresh")
        app = {f"f{i:03d}.bin": rng.randbytes(64 * 1024) for i in range(64)}
        new_app = {**app, "f007.bin": rng.randbytes(64 * 1024)}
        layer, changed, base_bytes = refreshed_layer(self.base, rng)
        refreshed = self.tag("base")
        archive = write_file(self.work / "base.tar", layer)
        sh("docker", "import", "--change", 'CMD ["bash"]', archive, refreshed)
        built = {}
        for side, base, files in (("old", self.base, app), ("new", refreshed, new_app)):
            context = self.work / side
            write_context(context, files, dict.fromkeys(files, OLD_MTIME), f"FROM {base}\nCOPY app /app\n")
            built[side] = self.tag(side)
            build(context, built[side])
        # A node with OLD has not the refreshed base: NEW alone holds its layer from here.
        sh("docker", "image", "rm", refreshed)
        old = self._publish_old(built["old"], self.base)
        changed["app/f007.bin"] = new_app["f007.bin"]
        app_bytes = sum(len(data) for data in new_app.values())
        ways = self._ways(None, old, built["new"], "as-built")
        why = "its base shares no layer with OLD's"
        naive = self._as_built(built["new"], old, 2, base_bytes + app_bytes, why)
        row = {
            **self.stamped,
            "scenario": self.scenario.name,
            "title": self.scenario.title,
            "case": "as built",
            "tree_bytes": base_bytes + app_bytes,
            "old_bytes": old["bytes"],
            "old_pull_seconds": None,
            "floor_bytes": sum(len(data) for data in changed.values()),
            "floor_compressed_bytes": sum(len(gzip.compress(data, 6)) for data in changed.values()),
            "changed_entries": len(changed) + 1,
            "ways": {
                "naive": naive,
                "copy_link": {"applies": False, "why": "the base changed: no rebuild on OLD applies"},
                **ways,
            },
        }
        row["goals"] = goals(self.scenario, row)
        return row


REFRESH_REMOVED = "usr/share/doc/tzdata/changelog.Debian.gz"
REFRESH_PATCHED = (
    "usr/share/doc/zlib1g/copyright",
    "usr/share/doc/zlib1g/changelog.gz",
    "etc/debian_version",
)


def refreshed_layer(base: str, rng: random.Random) -> tuple:
    """(``base``'s one layer re-written: REFRESH_PATCHED with 4 KiB more each, a
    file added, REFRESH_REMOVED gone; {name: new bytes} of what changed; bytes
    of file content in it)."""
    import io
    import tarfile

    proc = subprocess.Popen(["docker", "save", base], stdout=subprocess.PIPE)
    blobs = {}
    with tarfile.open(fileobj=proc.stdout, mode="r|") as outer:
        for member in outer:
            if member.isreg():
                blobs[member.name] = outer.extractfile(member).read()
    if proc.wait() != 0:
        raise SystemExit(f"docker save {base} failed")
    layers = json.loads(blobs["manifest.json"])[0]["Layers"]
    if len(layers) != 1:
        raise SystemExit(f"the refresh scenario wants a base of one layer; {base} has {len(layers)}")
    data = blobs[layers[0]]
    data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    out, changed, content = io.BytesIO(), {}, 0
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src:
            name = member.name.removeprefix("./")
            if name == REFRESH_REMOVED:
                continue
            body = src.extractfile(member).read() if member.isreg() else None
            if name in REFRESH_PATCHED:
                body += rng.randbytes(4096)
                member.size = len(body)
                changed[name] = body
            content += len(body or b"")
            dst.addfile(member, io.BytesIO(body) if body is not None else None)
        added = tarfile.TarInfo("etc/refreshed")
        changed[added.name] = b"patched on the refresh\n"
        added.size, added.mode = len(changed[added.name]), 0o644
        dst.addfile(added, io.BytesIO(changed[added.name]))
    if len(changed) != len(REFRESH_PATCHED) + 1:
        raise SystemExit(f"{base} lacks some of {REFRESH_PATCHED}")
    return out.getvalue(), changed, content + len(changed[added.name])


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# -- goals, the parser, output ---------------------------------------------------------------

KIT_WAYS = ("kit_dockerfile", "kit_layer", "kit_push", "kit_push_indexed", "kit_registry_only")


def goals(scenario: Scenario, row: dict) -> dict:
    """The benchmark issue's goals, each with the figure it is judged on."""
    ways, out = row["ways"], {}
    naive = ways["naive"]
    if "time_ratio" in scenario.goals and row["case"] == "fresh":
        limit = scenario.goals["time_ratio"]
        for way in ("kit_layer", "kit_dockerfile"):
            ratio = ways[way]["wall_seconds"] / max(naive["build_seconds"], 0.1)
            out[f"{way} pipeline <= {limit}x the naive build"] = {
                "figure": round(ratio, 2),
                "met": ratio <= limit,
            }
    if row["floor_compressed_bytes"] is not None:
        allowed = row["floor_compressed_bytes"] + 1024 * max(1, row["changed_entries"])
        for way in ("kit_layer", "kit_dockerfile", "kit_push", "kit_push_indexed"):
            if way not in ways:
                continue
            pushed = ways[way]["pushed_bytes"]
            out[f"{way} pushed <= changed files compressed + 1 KiB per changed entry ({allowed:,})"] = {
                "figure": pushed,
                "met": pushed <= allowed,
            }
    # The step a CI job replaces is `docker push` of NEW as built (the naive
    # image's push sends the same new layer): the kit's whole run, NEW built to
    # pushed, must not take longer on loopback (its worst case), and a quarter
    # of it through a runner's link.
    push = naive.get("push_seconds")
    link = row.get("link_mb_per_s")
    limit, where = (0.25, f"a {link} MB/s link") if link else (1.0, "loopback")
    for way in ("kit_push", "kit_push_indexed", "kit_registry_only"):
        if push and ways.get(way, {}).get("applies"):
            ratio = ways[way]["to_pushed_seconds"] / max(push, 0.1)
            out[f"{way}: NEW built -> pushed <= {limit}x `docker push` of NEW, {where}"] = {
                "figure": round(ratio, 2),
                "met": ratio <= limit,
            }
    peak = max(ways[w].get("peak_rss_mib") or 0 for w in KIT_WAYS if w in ways)
    out["kit peak memory < 100 MB"] = {"figure": peak, "met": peak * MIB < 100_000_000}
    if row["floor_bytes"] is not None:
        for way in ("kit_layer", "kit_dockerfile"):
            if ways[way].get("compared") == "mounts":
                disk = ways[way]["temp_disk_peak_bytes"]
                out[f"{way} temporary disk <= the changed files ({row['floor_bytes']:,})"] = {
                    "figure": disk,
                    "met": disk <= row["floor_bytes"],
                }
    return out


def base_ratio_goals(rows: list) -> None:
    """The goals judged across two rows (``Scenario.goals["base_ratio"]``): each
    kit way's time on the big base within that many times its time on the
    small one ("app"), same case, same run. Added to the big base's rows."""
    for row in rows:
        limit = SCENARIOS.get(row["scenario"], SCENARIOS["sample"]).goals.get("base_ratio")
        small = [r for r in rows if r["scenario"] == "app" and r["case"] == row["case"]]
        if limit is None or not small:
            continue
        for way in KIT_WAYS:
            here, there = row["ways"].get(way, {}), small[0]["ways"].get(way, {})
            if not (here.get("applies", True) and there.get("applies", True)) or way not in small[0]["ways"]:
                continue
            seconds = [w.get("wall_seconds") or w.get("to_pushed_seconds") for w in (here, there)]
            if None in seconds:
                continue
            ratio = seconds[0] / max(seconds[1], 0.1)
            row["goals"][f"{way}: on the 1 GB base <= {limit}x its time on the 199 MB one"] = {
                "figure": round(ratio, 2),
                "met": ratio <= limit,
            }


ODD = ["plain.txt", " lead", "trail ", "tab\tname", "new\\#012line", "caf\\#303\\#251", "x -> y", "n" * 200]


def run_parser(lines: int, work: Path, stamped: dict) -> dict:
    """Parse a generated itemized log of ``lines`` lines; lines/s and peak memory."""
    log = work / "itemized.log"
    rng = random.Random("difflayers-benchmark-parser")
    flags = [
        ">f+++++++++",
        ">fcst......",
        ".f...p.....",
        "cL+++++++++",
        "cd+++++++++",
        "hf+++++++++",
        "*deleting  ",
    ]
    with open(log, "wb") as handle:
        for i in range(lines):
            handle.write(f"{rng.choice(flags)} d{i % 1000}/{rng.choice(ODD)}-{i}\n".encode())
    code = (
        "import sys, time\n"
        "from difflayers.core.itemize import iter_lines, parse\n"
        "t = time.monotonic(); n = 0\n"
        "with open(sys.argv[1], 'rb') as f:\n"
        "    for _ in parse(iter_lines(f)): n += 1\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(n, time.monotonic() - t, hwm)\n"
    )
    out = sh(sys.executable, "-c", code, str(log), cwd=KIT).split()
    count, seconds, rss_kib = int(out[0]), float(out[1]), int(out[2])
    log.unlink()
    rate = round(count / seconds)
    return {
        **stamped,
        "scenario": "parser",
        "title": f"parser alone, {count:,}-line itemized log",
        "case": "",
        "lines": count,
        "seconds": round(seconds, 2),
        "lines_per_second": rate,
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "goals": {
            "parser >= 250,000 lines/s": {"figure": rate, "met": rate >= 250_000},
            "parser < 100 MB for a million lines": {
                "figure": round(rss_kib / 1024, 1),
                "met": rss_kib * 1024 < 100_000_000 or count < 1_000_000,
            },
        },
    }


def _cases(args, scenario: str) -> tuple:
    """The cases ``scenario`` runs: --case, and kept mtimes only where --kept-for allows."""
    cases = tuple(args.case or CASES)
    if args.kept_for and scenario not in args.kept_for:
        cases = tuple(c for c in cases if c != "kept")
    return cases


def run_here(args) -> list:
    """Every chosen scenario on this engine: its rows."""
    stamped = {**stamp(), "link_mb_per_s": args.link}
    ready_tool_image()
    rows = []
    data_root = sh("docker", "info", "--format", "{{.DockerRootDir}}").strip()
    with tempfile.TemporaryDirectory(prefix="difflayers-bench-") as tmp:
        work = Path(tmp)
        registry = Registry(work / "registry", args.link * 10**6 if args.link else None)
        proxy = CountingProxy(registry, stamped["store"])
        try:
            for name in args.scenario or [*SCENARIOS, "parser"]:
                if name == "parser":
                    rows.append(run_parser(args.parser_lines, work, stamped))
                    continue
                run = Run(
                    SCENARIOS[name],
                    args.base,
                    work,
                    registry,
                    proxy,
                    Watch(data_root),
                    _cases(args, name),
                    stamped,
                )
                rows += run.rows()
            base_ratio_goals(rows)
        finally:
            proxy.close()
            registry.shut()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario", action="append", choices=[*SCENARIOS, "parser"], help="repeatable; default: all"
    )
    parser.add_argument("--case", action="append", choices=CASES, help="repeatable; default: both")
    parser.add_argument(
        "--kept-for", action="append", choices=list(SCENARIOS), help="run the kept-mtimes case for these only"
    )
    parser.add_argument(
        "--link",
        type=int,
        metavar="MB_PER_S",
        help="reach the registry through a link of this many MB/s (10^6 bytes) each way, "
        "as a runner does (100: 800 Mbit/s); default: loopback, unheld",
    )
    parser.add_argument("--parser-lines", type=int, default=1_000_000)
    parser.add_argument("--base", default="debian:bookworm-slim")
    parser.add_argument("--json", type=Path, help="write this run's rows here")
    parser.add_argument(
        "--phases", type=Path, metavar="DIR", help="keep each kit run's progress, step by step with its time"
    )
    parser.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        metavar="ROWS",
        help="instead of running: combine the rows of "
        "one run's parts (one per engine) into --json, and render --readme and --svg from them",
    )
    parser.add_argument("--readme", type=Path, help="rewrite the table between the benchmark markers here")
    parser.add_argument("--svg", type=Path, help="draw pushed bytes, every way, here")
    args = parser.parse_args()
    if args.phases:
        global PHASES
        PHASES = args.phases.resolve()
        PHASES.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(KIT / "scripts"))
    import benchmark_report as report

    if args.combine:
        rows = [row for part in args.combine for row in json.loads(part.read_text())["rows"]]
    else:
        rows = run_here(args)
    document = {"schema": SCHEMA, "version": VERSION, "rows": rows}
    report.print_rows(rows)
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    if args.readme:
        report.rewrite_readme(args.readme, rows)
    if args.svg:
        report.write_svg(rows, args.svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
