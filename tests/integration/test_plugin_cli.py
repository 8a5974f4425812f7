"""``docker difflayers``: the docker CLI finds the plugin and runs the kit's command
through it (the docker CLI's plugin protocol, for real; no engine needed)."""

import os
import shutil
import subprocess
import sys

import pytest

from difflayers import __version__


@pytest.fixture
def docker_config(tmp_path):
    """A Docker config folder whose cli-plugins holds the plugin, installed the
    documented way: one executable named docker-difflayers."""
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True)
    plugin = plugins / "docker-difflayers"
    plugin.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m difflayers.cli.plugin "$@"\n')
    plugin.chmod(0o755)
    return {**os.environ, "DOCKER_CONFIG": str(plugins.parent)}


def docker(*args, env):
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=120)


def test_docker_lists_and_runs_the_plugin(docker_config):
    listed = docker("--help", env=docker_config)
    assert "difflayers*" in listed.stdout, listed.stdout + listed.stderr
    version = docker("difflayers", "--version", env=docker_config)
    assert version.returncode == 0 and version.stdout.strip() == f"difflayers {__version__}", version
    usage = docker("difflayers", "optimize", "--help", env=docker_config)
    assert usage.returncode == 0 and "--path" in usage.stdout
    refused = docker("difflayers", "optimize", "a:1", env=docker_config)
    assert (
        refused.returncode == 2 and "Traceback" not in refused.stderr
    )  # the kit's own exit status, passed on
