"""Podman's Docker-compatible API (CI's third engine): the kit's commands on it.

Podman builds with Buildah (no BuildKit), fills a named volume from an image
only once in its life, names an image by its config's digest, and loads an
OCI layout whose manifest lists OLD's layers by diff ID without their blobs.
Each test is a user's path, checked by ``independent`` (docker export and
inspect through the CLI), never by the kit's own comparison.
Run with ``DOCKER_HOST`` at Podman's socket (``.ci/run``); skipped elsewhere.
"""

import json
import subprocess
import sys

import pytest

from .conftest import compose_up, everything, on_podman, sh
from .independent import config_differences, inspect, tree_differences

pytestmark = [pytest.mark.engine, pytest.mark.podman]
CLI = [sys.executable, "-m", "difflayers"]
ODD = "odd name\twith tab"


@pytest.fixture(scope="module", autouse=True)
def podman():
    if not on_podman():
        pytest.skip("the engine is not Podman (CI runs these with DOCKER_HOST at Podman's socket)")


def _build(folder, tag, files: dict, links: dict = ()):
    """An app image: files under /app (COPY, as CI builds), no RUN."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    for name, target in dict(links).items():
        (folder / name).symlink_to(target)
    (folder / "Dockerfile").write_text('FROM debian:bookworm-slim\nCOPY . /app\nCMD ["cat", "/app/a"]\n')
    sh(["docker", "build", "-q", "-t", tag, "."], folder)
    return tag


COMMON = {f"f{i}": bytes([i]) * 40_000 for i in range(20)}
FILES = {
    1: {**COMMON, "a": b"one\n", "gone": b"x" * 500},
    2: {**COMMON, "a": b"two\n", ODD: b"odd\n", "f3": b"changed"},
    3: {**COMMON, "a": b"three\n", ODD: b"odd\n", "f3": b"changed"},
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("podman")
    old = _build(tmp / "old", "difflayers-test-podman:1", FILES[1])
    new = _build(tmp / "new", "difflayers-test-podman:2", FILES[2], {"link": "a"})
    yield old, new
    subprocess.run(["docker", "image", "rm", "-f", old, new], capture_output=True, check=False)


def test_the_layer_method_makes_new_on_olds_layers(pair, cleanup_images):
    old, new = pair
    out = "difflayers-test-podman:2-processed"
    cleanup_images.append(out)
    before = everything()
    result = sh([*CLI, "optimize", old, new, "--path", "/app", "-t", out, "--method", "layer", "--json"], ".")
    summary = json.loads(result.stdout)
    assert summary["method"] == "layer"
    assert tree_differences(new, out) == []
    assert config_differences(new, out) == []
    # OLD's layers and one more: OLD was loaded from, not copied.
    assert inspect(out)["RootFS"]["Layers"][:-1] == inspect(old)["RootFS"]["Layers"]
    assert sh(["docker", "run", "--rm", out], ".").stdout == "two\n"
    assert everything() == before


def _naive_differ() -> bool:
    """Whether the storage driver finds a step's changes by comparing trees (rootless on vfs)."""
    info = json.loads(sh(["docker", "info", "--format", "{{json .}}"], ".").stdout)
    status = dict(pair for pair in info.get("DriverStatus") or [] if len(pair) == 2)
    naive = info.get("Driver") in ("vfs", "btrfs", "zfs", "devicemapper")
    return naive or status.get("Native Overlay Diff") == "false"


def test_auto_makes_new_without_buildahs_etc_hosts(pair, cleanup_images):
    # A removal needs RUN, and Buildah's RUN with a network leaves the empty
    # /etc/hosts it mounted on in the image (debian:bookworm-slim has none):
    # the kit builds with Buildah's network disabled, and `auto` takes the
    # Dockerfile method, except on a driver that compares trees to find what
    # a step changed: there "a" ("one" -> "two", written in the same second)
    # would be left out, and `auto` takes the layer method.
    old, new = pair
    out = "difflayers-test-podman:2-dockerfile"
    cleanup_images.append(out)
    before = everything()
    result = sh([*CLI, "optimize", old, new, "--path", "/app", "-t", out, "--json"], ".")
    summary = json.loads(result.stdout)
    assert summary["removed"] == 1, summary
    if _naive_differ():
        assert summary["method"] == "layer" and "storage driver finds" in result.stderr, result.stderr
    else:
        assert summary["method"] == "dockerfile", summary
    assert tree_differences(new, out) == []
    assert config_differences(new, out) == []
    assert (
        inspect(out)["RootFS"]["Layers"][: len(inspect(old)["RootFS"]["Layers"])]
        == inspect(old)["RootFS"]["Layers"]
    )
    assert sh(["docker", "run", "--rm", out], ".").stdout == "two\n"
    assert everything() == before


def test_push_with_old_here_then_with_old_only_in_the_registry(pair, registry, cleanup_images, tmp_path):
    old, new = pair
    address, _ = registry
    remote_old, first, second = (f"{address}/podman-app:{tag}" for tag in ("1", "2", "3"))
    cleanup_images.extend([remote_old, first, second])
    sh(["docker", "tag", old, remote_old], ".")
    sh(["docker", "push", remote_old], ".")
    # Podman records the digest of the manifest it holds, not of the one it
    # pushed: OLD is found by its tag there, and checked to be OLD.
    pushed = json.loads(
        sh([*CLI, "optimize", remote_old, new, "--path", "/app", "--push", first, "--json"], ".").stdout
    )
    assert pushed["method"] == "layer"
    # A runner without OLD: NEW3 against the image just pushed, read from the registry.
    newer = _build(tmp_path / "3", "difflayers-test-podman:3", FILES[3], {"link": "a"})
    cleanup_images.append(newer)
    sh(["docker", "image", "rm", "-f", first], ".")
    result = sh([*CLI, "optimize", first, newer, "--path", "/app", "--push", second, "--json"], ".")
    summary = json.loads(result.stdout)
    assert summary["old_in_engine"] is False
    sh(["docker", "pull", second], ".")
    assert tree_differences(newer, second) == []
    assert config_differences(newer, second) == []


def test_the_other_commands_answer_there(pair, tmp_path, cleanup_images):
    # diff, verify, report, index and prune, each on a result checked by docker export.
    old, new = pair
    out = "difflayers-test-podman:2-commands"
    cleanup_images.append(out)
    plan = json.loads(sh([*CLI, "--quiet", "diff", old, new, "--path", "/app", "--json"], ".").stdout)
    assert sorted(plan["ship"]) == sorted(["a", "f3", "link", ODD])
    assert plan["remove"] == ["gone"]
    sh([*CLI, "--quiet", "optimize", old, new, "--path", "/app", "-t", out, "--method", "layer"], ".")
    assert tree_differences(new, out) == []
    assert sh([*CLI, "--quiet", "verify", new, out], ".").returncode == 0
    differs = sh([*CLI, "--quiet", "verify", old, out], ".", check=False)
    assert differs.returncode == 1 and "app/gone" in differs.stdout + differs.stderr
    figures = json.loads(sh([*CLI, "report", out, "--base", old, "--new", new, "--json"], ".").stdout)
    assert len(figures["layers"]) == 1 and 0 < figures["bytes_added"] < figures["naive_bytes"]
    index = tmp_path / "new.index.jsonl.gz"
    shown = json.loads(sh([*CLI, "index", new, "--path", "/app", "-o", str(index), "--json"], ".").stdout)
    assert shown["entries"] == len(FILES[2]) + 3 and index.is_file()  # its files, Dockerfile, link, /app
    # Nothing of this run's is left for prune (a Buildah pass's image, a container).
    pruned = json.loads(sh([*CLI, "prune", "--json"], ".").stdout)
    assert pruned["schema"] == 1 and "difflayers-pass" not in json.dumps(pruned["tags"]), pruned


def test_the_compose_differ_runs_twice_on_podmans_volumes(pair, kit, compose):
    # Podman fills a named volume once: the second `up` must compare the
    # trees it is given, not the empty volumes the first run left.
    old, new = pair
    logs = []
    down = [*compose, "-f", "rsync-image-diff.docker-compose.yml", "down"]
    for pair_ in ((old, new), (new, old)):
        env = {"RESTRICT_DIFF_TO_PATH": "/app", "OLD_IMAGE": pair_[0], "NEW_IMAGE": pair_[1]}
        # As scripts/walkthrough.sh on Podman: Compose 2.40 can crash there
        # recreating the services' containers for other images.
        sh(down, kit, env)
        compose_up(compose, kit, env)
        logs.append((kit / "output" / "rsync-image-diff.log").read_text())
    sh([*down, "-v"], kit, env)
    first, second = ({line[12:]: line[:11] for line in log.splitlines()} for log in logs)
    assert set(first) == {"gone", "a", "f3", "link", ODD}
    assert first["gone"].startswith("*deleting") and first["link"].startswith("cL+++")
    assert first[ODD].startswith(">f+++") and first["a"].startswith(">fc") and first["f3"].startswith(">fcs")
    assert set(second) == set(first)
    assert second["link"].startswith("*deleting") and second["gone"].startswith(">f+++")
