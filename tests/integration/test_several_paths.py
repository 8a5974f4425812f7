"""Several --path options: the app and a cache a build step leaves beside it.

NEW changes /app and /root/.cache/tool (as `npm install` writes /root/.npm):
``--path /app --path /root/.cache/tool`` ships both in one layer, and the image
made equals NEW (``saved_tree``: the test applies the layers itself). A NEW
that also writes /etc is refused before anything is tagged or pushed, naming
/etc. Verify and diff take the same union.
"""

import json
import sys
import urllib.request

import pytest

from .conftest import _buildkit_docker, sh
from .independent import config_differences, saved_tree_differences
from .registries import only_in_registry

pytestmark = pytest.mark.engine
CLI = [sys.executable, "-m", "difflayers"]
PATHS = ["--path", "/app", "--path", "/root/.cache/tool"]
BUILDKIT = {"DOCKER_BUILDKIT": "1"}
STEPS = {  # role -> the Dockerfile's RUN: the app, the cache beside it, and (wide) /etc
    "old": "mkdir -p /app /root/.cache/tool && echo 1 > /app/version && echo a > /root/.cache/tool/state",
    "new": "mkdir -p /app /root/.cache/tool && echo 2 > /app/version && echo b > /root/.cache/tool/state "
    "&& echo c > /root/.cache/tool/more",
}
STEPS["wide"] = STEPS["new"] + " && echo x > /etc/written-by-the-build"


@pytest.fixture(scope="module")
def images(tmp_path_factory, unique_module):
    """role -> tag of OLD, NEW (app and cache changed) and WIDE (NEW that also writes /etc)."""
    tags = {role: f"difflayers-test-paths-{unique_module}:{role}" for role in STEPS}
    for role, step in STEPS.items():
        context = tmp_path_factory.mktemp(role)
        (context / "Dockerfile").write_text(
            f'FROM debian:bookworm-slim\nRUN {step}\nCMD ["cat", "/app/version"]\n'
        )
        # BuildKit, as Docker 29 builds: the legacy builder's RUN leaves Docker's
        # init layer in the image's tree on containerd's store (test_whole_image).
        sh([_buildkit_docker(), "build", "--no-cache", "-q", "-t", tags[role], "."], context, env=BUILDKIT)
    yield tags
    sh(["docker", "image", "rm", "-f", *tags.values()], ".", check=False)


def _refused_naming_etc(result) -> None:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "outside /app, /root/.cache/tool in 1 entries (/etc (1)" in result.stderr, result.stderr
    assert "--path /etc" in result.stderr and "nothing was made" in result.stderr


# The union's layer loaded into each store; the Dockerfile method is tried there elsewhere.
@pytest.mark.parametrize("method", [pytest.param("layer", marks=pytest.mark.store), "dockerfile"])
def test_the_app_and_its_cache_ship_in_one_layer_equal_to_new(images, unique, method):
    made = f"{unique}:made"
    try:
        optimize = [*CLI, "optimize", images["old"], images["new"], *PATHS, "--method", method]
        done = json.loads(sh([*optimize, "-t", made, "--json"], ".").stdout)
        assert done["verified"] and done["paths"] == ["/app", "/root/.cache/tool"], done
        assert (done["method"], done["new"], done["changed"], done["removed"]) == (method, 1, 2, 0), done
        # What NEW as built adds is its own layer, not the base under the folder compared (/).
        assert done["bytes_added"] < 1_000 and done["naive_bytes"] < 100_000, done
        assert saved_tree_differences(images["new"], made) == []
        assert config_differences(images["new"], made) == []

        wide = sh(
            [
                *CLI,
                "optimize",
                images["old"],
                images["wide"],
                *PATHS,
                "--method",
                method,
                "-t",
                f"{unique}:wide",
            ],
            ".",
            check=False,
        )
        _refused_naming_etc(wide)
        assert sh(["docker", "image", "inspect", f"{unique}:wide"], ".", check=False).returncode != 0
    finally:
        sh(["docker", "image", "rm", "-f", made], ".", check=False)


def test_old_only_in_the_registry_the_union_is_pushed_or_refused(images, registry, unique):
    address, _ = registry
    old_remote, target = f"{address}/paths/app:1", f"{address}/paths/app:2"
    try:
        only_in_registry(images["old"], old_remote)
        wide = sh([*CLI, "optimize", old_remote, images["wide"], *PATHS, "--push", target], ".", check=False)
        _refused_naming_etc(wide)
        with urllib.request.urlopen(f"http://{address}/v2/paths/app/tags/list") as answer:
            assert json.load(answer)["tags"] == ["1"]  # nothing pushed

        done = json.loads(
            sh([*CLI, "optimize", old_remote, images["new"], *PATHS, "--push", target, "--json"], ".").stdout
        )
        assert done["verified"] and done["bytes_added"] < 1_000 and done["naive_bytes"] < 100_000, done
        sh(["docker", "pull", "-q", target], ".")
        assert saved_tree_differences(images["new"], target) == []
        assert config_differences(images["new"], target) == []
    finally:
        sh(["docker", "image", "rm", "-f", old_remote, target], ".", check=False)


@pytest.mark.once
def test_verify_and_diff_take_the_union(images):
    same = sh([*CLI, "verify", images["new"], images["wide"], *PATHS], ".")
    assert "Equal: files under /app, /root/.cache/tool" in same.stdout
    differs = sh([*CLI, "verify", images["old"], images["new"], *PATHS, "--json"], ".", check=False)
    found = json.loads(differs.stdout)
    assert differs.returncode == 1 and found["path"] == "/app, /root/.cache/tool"
    named = " ".join(found["tree_differences"])
    assert "version" in named and "more" in named, named

    plan = json.loads(sh([*CLI, "diff", images["old"], images["new"], *PATHS, "--json"], ".").stdout)
    assert {"app/version", "root/.cache/tool/state", "root/.cache/tool/more"} <= set(plan["ship"]), plan
    assert (plan["path"], plan["paths"]) == ("/", ["/app", "/root/.cache/tool"])
    _refused_naming_etc(sh([*CLI, "diff", images["old"], images["wide"], *PATHS], ".", check=False))
    missing = sh(
        [*CLI, "diff", images["old"], images["new"], "--path", "/app", "--path", "/nowhere"], ".", check=False
    )
    assert missing.returncode == 2 and "/nowhere does not exist" in missing.stderr, missing.stderr
