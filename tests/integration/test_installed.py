"""The kit as users install it: the built wheel (not editable) in a fresh venv,
run from a folder that is not the checkout, on an engine without the kit's
tool image. The wheel carries what the tool image is built from (package
data), so the kit builds it itself."""

import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO, sh
from .independent import tree_differences

# Runs on the first engine only in CI (packaging: the store is exercised by every other test).
pytestmark = [pytest.mark.engine, pytest.mark.once]
TOOL_IMAGE = "difflayers-kit:local"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The ``difflayers`` command of a venv holding only the wheel and its dependencies."""
    tmp = tmp_path_factory.mktemp("installed")
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(REPO)], tmp)
    (wheel,) = (tmp / "dist").glob("difflayers-*.whl")
    sh([sys.executable, "-m", "venv", str(tmp / "venv")], tmp)
    sh([str(tmp / "venv" / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)], tmp)
    (tmp / "elsewhere").mkdir()
    return tmp / "venv" / "bin" / "difflayers", tmp / "elsewhere"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pair")
    tags = {}
    for side, parent in (("old", "scratch"), ("new", "difflayers-test-installed:old")):
        context = tmp / side
        context.mkdir()
        (context / "a.txt").write_text(side * 100)
        (context / "Dockerfile").write_text(f"FROM {parent}\nCOPY a.txt /app/\n")
        tags[side] = f"difflayers-test-installed:{side}"
        sh(["docker", "build", "-q", "-t", tags[side], "."], context)
    yield tags
    sh(["docker", "image", "rm", "-f", tags["new"], tags["old"]], ".", check=False)


def run(installed, *args, check=True):
    command, cwd = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run([str(command), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_the_wheel_alone_builds_its_tool_image_and_runs_every_command(installed, pair):
    sh(["docker", "image", "rm", "-f", TOOL_IMAGE], ".", check=False)
    processed = "difflayers-test-installed:processed"
    try:
        made = run(
            installed, "optimize", pair["old"], pair["new"], "--path", "/app", "-t", processed, "--json"
        )
        assert "building the kit's tool image" in made.stderr
        summary = json.loads(made.stdout)
        assert summary["verified"] and summary["method"] == "dockerfile"  # its templates were found
        assert tree_differences(pair["new"], processed) == []
        shipped = json.loads(
            run(installed, "diff", pair["old"], pair["new"], "--path", "/app", "--json").stdout
        )
        assert shipped["ship"] == ["a.txt"]
        assert json.loads(run(installed, "verify", pair["new"], processed, "--json").stdout)["equal"]
        assert run(installed, "report", processed).stdout.startswith(f"{processed}:")
        assert run(installed, "--version").stdout.startswith("difflayers ")
    finally:
        sh(["docker", "image", "rm", "-f", processed], ".", check=False)


def engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


def test_the_command_as_a_container_image(pair):
    """`docker build --target cli` of the repository's Dockerfile, run with the
    engine's socket: what a machine without Python uses."""
    image, processed = "difflayers-test-installed:cli-image", "difflayers-test-installed:from-container"
    sh(
        ["docker", "build", "-q", "-f", "templates/shell.Dockerfile", "--target", "cli", "-t", image, "."],
        REPO,
    )
    try:
        socket = engine_socket()
        argv = ["docker", "run", "--rm", "-v", f"{socket}:/var/run/docker.sock", image]
        made = sh(
            [*argv, "optimize", pair["old"], pair["new"], "--path", "/app", "-t", processed, "--json"], "."
        )
        summary = json.loads(made.stdout)
        assert summary["verified"] and summary["bytes_added"] == len("new" * 100)
        assert tree_differences(pair["new"], processed) == []
        verdict = sh([*argv, "verify", pair["new"], processed, "--json"], ".")
        assert json.loads(verdict.stdout)["equal"]
        shipped = sh([*argv, "diff", pair["old"], pair["new"], "--path", "/app", "--json"], ".")
        assert json.loads(shipped.stdout)["ship"] == ["a.txt"]
        assert sh([*argv, "report", processed], ".").stdout.startswith(f"{processed}:")
        assert json.loads(sh([*argv, "prune", "--json"], ".").stdout)["schema"] == 1
        assert "complete -F _difflayers difflayers" in sh([*argv, "completion", "bash"], ".").stdout
        refused = sh([*argv, "diff", "no-such-image:1", pair["new"], "--path", "/app"], ".", check=False)
        assert refused.returncode == 2 and "not in the local engine" in refused.stderr
    finally:
        sh(["docker", "image", "rm", "-f", processed, image], ".", check=False)
