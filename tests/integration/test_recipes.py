"""The CI recipes in docs/ci, run as their CI would run them: the steps read
from the recipe files themselves (not a copy), against the local registry,
for three revisions of a small project: the first pushed in full, then one
recipe and the other each pushing only a delta."""

import json
import os
import re
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


def action_steps(inputs: dict) -> list:
    """The `run:` steps of the repository's action.yml but its install, each with
    the env its `with:` inputs give it (inputs reach the shell through env only)."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    defaults = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    given = {**defaults, **inputs}
    steps = []
    for step in action["runs"]["steps"]:
        if step.get("id") == "install":
            continue
        env = {
            key: re.sub(r"\$\{\{ inputs\.(\w+) \}\}", lambda m: given[m.group(1)], value)
            for key, value in (step.get("env") or {}).items()
        }
        steps.append(("bash", step["run"], env))
    return steps


def gitlab_steps() -> list:
    job = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())["deploy"]
    return [("sh", line) for line in job["script"]]


def component_steps(inputs: dict) -> list:
    """The job's `script:` of the GitLab CI/CD component (templates/difflayers.yml),
    each line with the job's variables, its inputs put in as GitLab does."""
    spec, job = yaml.safe_load_all((REPO / "templates" / "difflayers.yml").read_text())
    given = {name: field.get("default", "") for name, field in spec["spec"]["inputs"].items()} | inputs
    (only,) = job.values()

    def put(text: str) -> str:
        return re.sub(r"\$\[\[ inputs\.(\w+) \]\]", lambda m: given[m.group(1)], text)

    env = {name: put(value) for name, value in only["variables"].items()}
    return [("sh", line, env) for line in only["script"]]


def run_steps(steps, project: Path, env: dict) -> list:
    """Each step in its shell with -e, as the CI runs it; their outputs."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the checkout's difflayers
    outputs = []
    for shell, text, *own in steps:
        result = subprocess.run(
            [shell, "-e", "-o", "pipefail", "-c", text] if shell == "bash" else [shell, "-e", "-c", text],
            cwd=project,
            env={**os.environ, **env, **(own[0] if own else {}), "PATH": path},
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
            [
                ("github", github_steps()),
                ("github", github_steps()),
                ("gitlab", gitlab_steps()),
                ("gitlab component", component_steps({"image": image, "path": "/app"})),
            ],
            start=1,
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


def test_the_action_pushes_a_first_revision_then_a_delta_and_says_so(tmp_path, registry):
    """action.yml's steps, inputs as a workflow's `with:` gives them: the first
    revision goes as built (rebase=true), the second as OLD + one layer, its
    outputs read from $GITHUB_OUTPUT as the runner reads them."""
    address, _ = registry
    image = f"{address}/action/app"
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "Dockerfile").write_text("FROM scratch\nCOPY app/ /app/\n")
    (project / "app" / "big.bin").write_bytes(os.urandom(1 << 20))
    made = []
    try:
        found, layers = {}, {}
        for revision in (1, 2):
            (project / "app" / "version.txt").write_text(f"revision {revision}\n")
            new = f"{image}:rev{revision}"
            made.append(new)
            sh(["docker", "build", "-q", "-t", new, "."], project)
            github_output, runner_temp = tmp_path / f"output-{revision}", tmp_path / f"temp-{revision}"
            github_output.touch()
            runner_temp.mkdir()
            sh(["docker", "image", "rm", f"{image}:latest"], ".", check=False)  # a runner without OLD
            steps = action_steps({"old": f"{image}:latest", "new": new, "path": "/app"})
            run_steps(steps, project, {"GITHUB_OUTPUT": str(github_output), "RUNNER_TEMP": str(runner_temp)})
            found[revision] = dict(line.split("=", 1) for line in github_output.read_text().splitlines())
            layers[revision] = manifest_layers(address, "action/app", "latest")
        assert found[1]["rebase"] == "true" and found[1]["verified"] == "true"
        assert found[2]["rebase"] == "false" and found[2]["verified"] == "true"
        assert 0 < int(found[2]["bytes"]) < 20_000  # the layer, config and manifest: not the 1 MiB file
        assert found[2]["pushed"].startswith(f"{image}@sha256:")
        assert layers[2][:-1] == layers[1]  # OLD's layers, then the delta
    finally:
        made.append(f"{image}:latest")
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)
