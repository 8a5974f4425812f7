"""The CI recipes in docs/ci, run as their CI would run them: the steps read
from the recipe files themselves (not a copy), against the local registry,
for three revisions of a small project: the first pushed in full, then one
recipe and the other each pushing only a delta."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, sh
from .independent import config_differences, tree_differences

# Runs on the first engine only in CI: the recipes' shell steps; pushes on
# each store are tested in test_registries.
pytestmark = [pytest.mark.engine, pytest.mark.once]
RECIPES = REPO / "docs" / "ci"


def github_steps() -> list:
    """The `run:` steps of the deploy job, but the kit's install (the test has the kit)."""
    workflow = yaml.safe_load((RECIPES / "github-actions.yml").read_text())
    steps = workflow["jobs"]["deploy"]["steps"]
    return [("bash", step["run"]) for step in steps if "run" in step and step.get("id") != "install"]


def gitlab_steps() -> list:
    job = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())["deploy"]
    return [("sh", line) for line in job["script"]]


def run_steps(steps, project: Path, env: dict) -> list:
    """Each step in its shell with -e, as the CI runs it; their outputs."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the checkout's difflayers
    outputs = []
    for shell, text in steps:
        result = subprocess.run(
            [shell, "-e", "-c", text],
            cwd=project,
            env={**os.environ, **env, "PATH": path},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{text}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        outputs.append(result.stdout + result.stderr)
    return outputs


def manifest_layers(address: str, repository: str, reference: str) -> list:
    import urllib.request

    accept = (
        "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    )
    request = urllib.request.Request(
        f"http://{address}/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
    )
    return [layer["digest"] for layer in json.load(urllib.request.urlopen(request))["layers"]]


def test_the_recipes_push_a_first_revision_in_full_then_deltas(tmp_path, registry):
    address, _ = registry
    image = f"{address}/recipes/app"
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "Dockerfile").write_text("FROM scratch\nCOPY app/ /app/\n")
    (project / "app" / "big.bin").write_bytes(os.urandom(1 << 20))
    made = [f"{image}:latest"]
    try:
        layers = {}
        for revision, (recipe, steps) in enumerate(
            [("github", github_steps()), ("github", github_steps()), ("gitlab", gitlab_steps())], start=1
        ):
            (project / "app" / "version.txt").write_text(f"revision {revision}\n")
            sha = f"rev{revision}"
            made.append(f"{image}:{sha}")
            env = {"IMAGE": image, "APP_PATH": "/app", "GITHUB_SHA": sha, "CI_COMMIT_SHA": sha}
            sh(["docker", "image", "rm", f"{image}:latest"], ".", check=False)  # a runner without OLD
            outputs = run_steps(steps, project, env)
            layers[revision] = manifest_layers(address, "recipes/app", "latest")
            if revision == 1:
                assert "NEW pushed as built, the first revision" in outputs[-1], (recipe, outputs[-1])
            else:
                # OLD was never pulled: the previous revision's tree index served.
                assert "OLD's tree index: found beside OLD" in outputs[-1], (recipe, outputs[-1])
                assert "verified: the layer applied to OLD's tree index" in outputs[-1], (recipe, outputs[-1])
                assert layers[revision][:-1] == layers[revision - 1], "OLD's layers, then the delta"
            # What the registry now serves as latest equals NEW as built.
            sh(["docker", "image", "rm", f"{image}:latest"], ".", check=revision == 1)
            sh(["docker", "pull", f"{image}:latest"], ".")
            assert tree_differences(f"{image}:{sha}", f"{image}:latest") == []
            assert config_differences(f"{image}:{sha}", f"{image}:latest") == []
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)
