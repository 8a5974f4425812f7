"""The walkthrough (docs/walkthrough.md), command for command, on the real engine.

Run once per Compose variant (docker-compose and docker compose); then the
processed image is checked against revision-2 by a comparison that shares no
code with the kit (docker export + docker inspect).
"""

import json

import pytest

from .conftest import compose_up, generate_dockerfile, on_podman, sh
from .independent import added_layers, config_differences, exported_tree, tree_differences

pytestmark = [pytest.mark.engine, pytest.mark.store]

ENV_DIFF = {
    "RESTRICT_DIFF_TO_PATH": "/app",
    "OLD_IMAGE": "sample-project:revision-1",
    "NEW_IMAGE": "sample-project:revision-2",
}
ENV_VERIFY = {
    **ENV_DIFF,
    "OLD_IMAGE": "sample-project:revision-2",
    "NEW_IMAGE": "sample-project:revision-2-processed",
}


def processed_build_options() -> list:
    """`docker build`'s options for the processed image, as docs/walkthrough.md
    gives them: no network for the removals' RUN (Podman: Buildah's policy 1,
    and no cache, whose key leaves the network out; docs/guide.md#podman)."""
    return ["--network=1", "--no-cache"] if on_podman() else ["--network=none"]


@pytest.fixture(scope="module")
def walked(kit, compose):
    """Run every command of the walkthrough verbatim; keep what they printed."""
    sample, output = kit / "sample-project", kit / "output"
    shell = [*compose, "-f", "shell.docker-compose.yml", "run", "--rm", "shell"]
    printed = {}
    sh([*shell, "./generate-sample-project.sh"], kit)
    sh(["docker", "build", "-t", "sample-project:revision-1", "."], sample)
    sh([*shell, "./modify-sample-project.sh"], kit)
    sh([*shell, "./base-sample-project-images-on-revision-1.sh"], kit)
    sh(
        [
            "docker",
            "build",
            "-f",
            "Dockerfile.based-on-revision-1",
            "-t",
            "sample-project:revision-2-based-on-revision-1",
            ".",
        ],
        sample,
    )
    # A fresh checkout (a CI runner's clone) gives every file a new mtime;
    # containerd's differ leaves unchanged files with kept mtimes out of a
    # layer, moby's never does. Both cases are built.
    sh([*shell, "sh", "-c", "find ../sample-project -exec touch -h {} +"], kit)
    sh(
        [
            "docker",
            "build",
            "--no-cache",  # a CI runner has no build cache either
            "-f",
            "Dockerfile.based-on-revision-1",
            "-t",
            "sample-project:revision-2-based-on-revision-1-fresh-checkout",
            ".",
        ],
        sample,
    )
    sh(["docker", "build", "-t", "sample-project:revision-2", "."], sample)
    printed["diff"] = compose_up(compose, kit, ENV_DIFF).stdout
    printed["diff_log"] = (output / "rsync-image-diff.log").read_bytes()
    printed["generate"] = generate_dockerfile(kit, ENV_DIFF, compose).stdout
    sh(
        ["docker", "build", *processed_build_options(), "-t", "sample-project:revision-2-processed", "."],
        output,
    )
    if on_podman():  # as the walkthrough there: Compose 2.40 can crash recreating them for other images
        sh([*compose, "-f", "rsync-image-diff.docker-compose.yml", "down"], kit, ENV_DIFF)
    printed["verify"] = compose_up(compose, kit, ENV_VERIFY).stdout
    printed["verify_log"] = (output / "rsync-image-diff.log").read_bytes()
    return printed


def test_diff_finds_exactly_the_sample_changes(walked):
    lines = walked["diff_log"].decode().splitlines()
    assert sorted(line[12:] for line in lines) == [
        "Dockerfile.based-on-revision-1",
        "sample-1.code",
        "sample-2.code",
        "sample-4.code",
    ]
    assert "*deleting   sample-2.code" in lines
    assert "2 new, 1 changed, 1 removed" in walked["diff"]


def test_naive_rebuild_adds_the_whole_app(walked, image_store):
    """From a fresh checkout on both stores; with kept mtimes on the classic store
    (containerd's differ may then leave unchanged files out, FACTS.md)."""
    fresh = added_layers(
        "sample-project:revision-2-based-on-revision-1-fresh-checkout", "sample-project:revision-1"
    )
    kept = added_layers("sample-project:revision-2-based-on-revision-1", "sample-project:revision-1")
    print(f"naive rebuild on the {image_store} store: fresh checkout {fresh}, kept mtimes {kept}")
    assert fresh[0] == 1 and fresh[1] > 16_000_000
    assert kept[0] == 1
    if image_store == "classic":
        assert kept[1] > 16_000_000
    naive = exported_tree("sample-project:revision-2-based-on-revision-1")
    assert "app/sample-2.code" in naive  # COPY cannot remove what revision-1 had


def test_processed_image_adds_under_one_kib(walked):
    layers, size = added_layers("sample-project:revision-2-processed", "sample-project:revision-1")
    assert 1 <= layers <= 2
    assert size < 1024, size


def test_processed_image_equals_revision_2_tree_and_config(walked):
    assert tree_differences("sample-project:revision-2", "sample-project:revision-2-processed") == []
    assert config_differences("sample-project:revision-2", "sample-project:revision-2-processed") == []


def test_last_step_reports_no_differences(walked):
    assert walked["verify_log"] == b""
    assert "no differences" in walked["verify"]


def test_processed_dockerfile_works_with_both_builders(
    walked, kit, buildkit_engine, builders, cleanup_images
):
    for name, build in builders.items():
        tag = f"sample-project:revision-2-processed-{name}"
        cleanup_images.append(tag)
        build(kit / "output", tag)
        assert tree_differences("sample-project:revision-2", tag) == [], name
        assert config_differences("sample-project:revision-2", tag) == [], name
        assert added_layers(tag, "sample-project:revision-1")[1] < 1024, name


def test_nothing_left_running_and_tree_copies_emptied(walked):
    running = sh(
        ["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=rsync-image-diff"], "."
    ).stdout
    assert running.strip() == ""
    for volume in ("rsync-image-diff_old-tree", "rsync-image-diff_new-tree"):
        mountpoint = json.loads(sh(["docker", "volume", "inspect", volume], ".").stdout)[0]["Mountpoint"]
        listing = sh(
            ["docker", "run", "--rm", "-v", f"{volume}:/v:ro", "difflayers-kit:local", "ls", "-A", "/v"], "."
        ).stdout
        assert listing == "", (mountpoint, listing)


def stored_bytes(root):
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_push_sends_bytes_not_megabytes(walked, registry, cleanup_images):
    """Measured at a real registry: storage growth for each push after revision-1."""
    address, storage = registry
    growth = {}
    for tag in ("revision-1", "revision-2-processed", "revision-2-based-on-revision-1-fresh-checkout"):
        remote = f"{address}/sample-project:{tag}"
        cleanup_images.append(remote)
        sh(["docker", "tag", f"sample-project:{tag}", remote], ".")
        before = stored_bytes(storage)
        sh(["docker", "push", remote], ".")
        growth[tag] = stored_bytes(storage) - before
    print(f"registry growth per push: {growth}")
    naive = growth["revision-2-based-on-revision-1-fresh-checkout"]
    assert naive > 16_000_000
    assert growth["revision-2-processed"] < 0.001 * naive
