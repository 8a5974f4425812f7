"""Fixtures for tests on the real engine: a copy of the kit to run commands
in, the Compose variants, the builders, and a helper to run commands."""

import datetime
import functools
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from . import registries

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI") == "true"

# A suite started in the background (nohup, `&`) inherits SIGINT ignored, and
# so would every command it starts; the interrupt tests send the user's Ctrl-C,
# so it is handled again here (a handled signal is default in the children).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def sh(args, cwd, env=None, check=True):
    """Run argv in ``cwd``; return the CompletedProcess with text output."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def everything():
    """All containers and volumes on the engine, and our temporary folders."""
    containers = set(sh(["docker", "ps", "-aq"], ".").stdout.split())
    volumes = set(sh(["docker", "volume", "ls", "-q"], ".").stdout.split())
    networks = set(sh(["docker", "network", "ls", "-q"], ".").stdout.split())
    unverified = set(sh(["docker", "images", "-q", "difflayers-unverified"], ".").stdout.split())
    temps = set(glob.glob(os.path.join(tempfile.gettempdir(), "difflayers-*")))
    return containers, volumes, networks, unverified, temps


@functools.cache
def on_podman() -> bool:
    """Whether the engine behind DOCKER_HOST is Podman's Docker-compatible API."""
    version = json.loads(sh(["docker", "version", "--format", "{{json .Server}}"], ".").stdout)
    return any("podman" in (c.get("Name") or "").lower() for c in version.get("Components") or [])


@pytest.fixture
def buildkit_engine():
    """Skips where the engine has no BuildKit behind it (Podman builds with Buildah)."""
    if on_podman():
        pytest.skip("Podman has no BuildKit: what is compared in place there is not")


def compose_up(compose, kit, env):
    """`COMPOSE -f rsync-image-diff.docker-compose.yml up` in ``kit``. On Podman,
    once more if Compose itself crashed (a nil pointer in its monitor, as in
    docker/compose#13559: seen 2 times in about 40 `up`s there, before the
    differ's own work), and ended when it waits on after every container of
    the differ has exited (``_up_on_podman``): Compose's and Podman's bugs,
    not the kit's, which is what is tested."""
    up = [*compose, "-f", "rsync-image-diff.docker-compose.yml", "up"]
    run = _up_on_podman if on_podman() else functools.partial(sh, check=False)
    result = run(up, kit, env)
    if result.returncode != 0 and on_podman() and "panic: runtime error" in result.stderr:
        sh([*compose, "-f", "rsync-image-diff.docker-compose.yml", "down"], kit, env)
        result = run(up, kit, env)
    if result.returncode != 0:
        raise AssertionError(f"compose up exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


UP_STALL = 30  # seconds `up` may go on waiting once every container of the differ has exited


def _up_on_podman(up, kit, env):
    """``up`` on Podman 4.3, where Compose once went on waiting after every
    container had exited (CI here, 2026-12-08; like podman#28514, cause not found):
    once every container of the project has exited in this run, and
    ``UP_STALL`` seconds have passed,
    ``up`` is stopped, and its result is theirs: exit 0 if each exited 0, the
    services' logs beside what ``up`` printed."""
    full_env = {**os.environ, **env}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.time()
        proc = subprocess.Popen(up, cwd=kit, env=full_env, stdout=out, stderr=err)
        exited_since, codes, stopped = None, [], False
        while proc.poll() is None:
            time.sleep(2)
            codes = _exit_codes("rsync-image-diff", started)
            if codes and None not in codes:
                exited_since = exited_since or time.monotonic()
                if time.monotonic() - exited_since > UP_STALL:
                    proc.terminate()
                    try:
                        proc.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                    stopped = True
                    break
            else:
                exited_since = None
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if not stopped:
        return subprocess.CompletedProcess(up, proc.returncode, stdout, stderr)
    logs = sh([*up[:-1], "logs", "--no-color"], kit, env, check=False).stdout
    stalled = f"\n(up stopped: every container had exited {UP_STALL} s before, with {codes})"
    return subprocess.CompletedProcess(up, 0 if set(codes) == {0} else 1, stdout + logs, stderr + stalled)


def _exit_codes(project: str, since: float) -> list:
    """Each container of ``project``: its exit code if it exited after ``since``
    (a time.time()), else None (running, or left exited by an earlier run)."""
    label = f"label=com.docker.compose.project={project}"
    ids = sh(["docker", "ps", "-aq", "--filter", label], ".", check=False).stdout.split()
    if not ids:
        return []
    shown = "{{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}"
    found = []
    for line in sh(["docker", "inspect", "--format", shown, *ids], ".", check=False).stdout.splitlines():
        status, code, finished = line.split()
        finished = re.sub(r"(\.\d{6})\d+", r"\1", finished).replace("Z", "+00:00")
        ended = datetime.datetime.fromisoformat(finished).timestamp()
        found.append(int(code) if status == "exited" and ended >= since else None)
    return found


DOCKER_COMPOSE = ("docker", "compose")
GENERATE_ARGS = (
    "-f", "shell.docker-compose.yml", "-f", "process-image-diff.docker-compose.yml",
    "run", "--rm", "shell", "./generate-dockerfile.sh",
)  # fmt: skip


def generate_dockerfile(kit, env, compose=DOCKER_COMPOSE, check=True):
    """The walkthrough's generate step, as a user types it."""
    return sh([*compose, *GENERATE_ARGS], kit, env, check=check)


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """A fresh copy of the kit's files (what git tracks or would track)."""
    dest = tmp_path_factory.mktemp("kit") / "kit"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run(
        ["docker", "compose", "-f", "shell.docker-compose.yml", "build", "--quiet"], cwd=dest, check=True
    )
    return dest


COMPOSE_VARIANTS = {"docker-compose": ["docker-compose"], "docker compose": ["docker", "compose"]}


# Which Compose runs the files does not depend on the store: the standalone
# binary once in CI, the plugin on every engine.
@pytest.fixture(
    scope="module", params=[pytest.param("docker-compose", marks=pytest.mark.once), "docker compose"]
)
def compose(request):
    argv = COMPOSE_VARIANTS[request.param]
    if (
        shutil.which(argv[0]) is None
        or subprocess.run([*argv, "version"], capture_output=True, check=False).returncode
    ):
        if IN_CI:
            pytest.fail(f"{request.param} is not installed")
        pytest.skip(f"{request.param} is not installed")
    return argv


def _buildkit_docker():
    """A docker CLI that builds with BuildKit when DOCKER_BUILDKIT=1."""
    for candidate in ("docker", "/usr/bin/docker"):
        if shutil.which(candidate) is None:
            continue
        if subprocess.run([candidate, "buildx", "version"], capture_output=True, check=False).returncode == 0:
            return candidate
        version = subprocess.run(
            [candidate, "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if version.returncode == 0 and version.stdout.strip().split(".")[0] in ("19", "20", "21", "22"):
            return candidate  # built-in BuildKit client before buildx became required
    return None


@pytest.fixture(scope="session")
def builders():
    """name -> function(context_dir, tag) building with that builder."""
    bk = _buildkit_docker()
    if bk is None:
        if IN_CI:
            pytest.fail("no BuildKit-capable docker CLI")
        pytest.skip("no BuildKit-capable docker CLI")

    def make(cli, flag):
        def build(context, tag, dockerfile="Dockerfile"):
            return sh(
                [cli, "build", "-f", dockerfile, "-t", tag, "."], cwd=context, env={"DOCKER_BUILDKIT": flag}
            )

        return build

    return {"classic": make("docker", "0"), "buildkit": make(bk, "1")}


@pytest.fixture(scope="session")
def image_store():
    """ "containerd" or "classic": the engine's image store, as `docker info` reports it."""
    status = subprocess.run(
        ["docker", "info", "--format", "{{json .DriverStatus}}"], capture_output=True, text=True, check=True
    ).stdout
    return "containerd" if "io.containerd.snapshotter" in status else "classic"


@pytest.fixture
def unique():
    """A unique name for images and compose projects of one test."""
    return f"difflayers-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def unique_module():
    """A unique part of the names of one module's images."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def cleanup_images():
    tags = []
    yield tags
    if tags:
        subprocess.run(["docker", "image", "rm", "-f", *tags], capture_output=True, check=False)


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(tmp_path_factory):
    """Debian's docker-registry on loopback, with its own empty storage.

    Yields (address, storage_root). The engine pushes to 127.0.0.0/8 without TLS.
    """
    import time
    import urllib.request

    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        if IN_CI:
            pytest.fail("docker-registry is not installed")
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'storage'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{address}/v2/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("docker-registry did not start")
        yield address, root / "storage"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def tools_on_path():
    for tool in ("openssl", "htpasswd", "docker-registry"):
        if shutil.which(tool) is None:
            (pytest.fail if IN_CI else pytest.skip)(f"{tool} is not installed (.ci/run installs it)")
    if os.geteuid() != 0:
        (pytest.fail if IN_CI else pytest.skip)("the engine's certs.d needs root")


@pytest.fixture
def proxied(tmp_path, tools_on_path):
    """A plain registry behind the fault proxy, which speaks TLS (trusted by the
    engine through /etc/docker/certs.d, by the kit through DIFFLAYERS_CERTS_D)."""
    server = registries.RegistryServer(tmp_path)
    ca = registries.make_ca(tmp_path)
    proxy = registries.FaultProxy(server.port, tls=registries.make_server_cert(tmp_path, ca))
    engine_trust = registries.trust_for_engine(proxy.address, ca[0])
    certs_d = tmp_path / "certs.d"
    (certs_d / proxy.address).mkdir(parents=True)
    shutil.copy(ca[0], certs_d / proxy.address / "ca.crt")
    proxy.env = {"DOCKER_CONFIG": str(tmp_path / "none"), "DIFFLAYERS_CERTS_D": str(certs_d)}
    (tmp_path / "none").mkdir()
    try:
        yield server, proxy
    finally:
        proxy.stop()
        server.stop()
        shutil.rmtree(engine_trust, ignore_errors=True)
