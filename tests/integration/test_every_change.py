"""Every kind of change at once, on the real engine: compose diff, generate,
build with both builders, then check with the kit's verify command and with
a comparison that shares no code with the kit."""

import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from .conftest import generate_dockerfile, sh
from .independent import config_differences, tree_differences

pytestmark = pytest.mark.engine
HERE = Path(__file__).parent / "every_change"

CONFIG = {
    "old": 'ENV KEEP=1 CHANGE=old\nLABEL tier=old\nCMD ["sleep", "1"]',
    "new": 'ENV KEEP=1 CHANGE="new $value"\nLABEL tier=new\nEXPOSE 8080\nWORKDIR /srv/app\nUSER 1000\n'
    'STOPSIGNAL SIGINT\nHEALTHCHECK --interval=30s CMD ["true"]\nENTRYPOINT ["/bin/echo"]\nCMD ["hi"]',
}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    tags = {}
    for side in ("old", "new"):
        context = tmp_path_factory.mktemp(side)
        shutil.copy(HERE / f"{side}.sh", context / "make.sh")
        (context / "Dockerfile").write_text(
            "FROM debian:bookworm-slim\nCOPY make.sh /make.sh\nRUN bash /make.sh && rm /make.sh\n"
            f"{CONFIG[side]}\n"
        )
        tags[side] = f"difflayers-test-every-change:{side}"
        sh(["docker", "build", "-q", "-t", tags[side], "."], context)
    yield tags
    sh(["docker", "image", "rm", "-f", *tags.values()], ".", check=False)


@pytest.fixture(scope="module")
def generated(kit, images):
    env = {
        "COMPOSE_PROJECT_NAME": "difflayers-test-every-change",
        "RESTRICT_DIFF_TO_PATH": "/srv/app",
        "OLD_IMAGE": images["old"],
        "NEW_IMAGE": images["new"],
    }
    sh(["docker", "compose", "-f", "rsync-image-diff.docker-compose.yml", "up"], kit, env)
    generate_dockerfile(kit, env)
    yield kit / "output"
    sh(
        ["docker", "compose", "-f", "rsync-image-diff.docker-compose.yml", "down", "-v"],
        kit,
        env,
        check=False,
    )


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
@pytest.mark.store  # every kind of change, built into each store
def test_processed_equals_new(kit, images, generated, builders, builder, cleanup_images):
    tag = f"difflayers-test-every-change:processed-{builder}"
    cleanup_images.append(tag)
    builders[builder](generated, tag)
    assert tree_differences(images["new"], tag) == []
    assert config_differences(images["new"], tag) == []
    verify = sh([sys.executable, "-m", "difflayers", "verify", images["new"], tag], kit, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Equal" in verify.stdout


def test_verify_reports_the_differences(kit, images):
    result = sh(
        [sys.executable, "-m", "difflayers", "verify", images["old"], images["new"], "--path", "/srv/app"],
        kit,
        check=False,
    )
    assert result.returncode == 1
    for expected in (
        "only in A: srv/app/removed-file",
        "only in B: srv/app/fifo",
        "differs: srv/app/setuid",
        "only in B: 'srv/app/new\\nline'",
        "config Cmd",
    ):
        assert expected in result.stdout, expected


def test_odd_names_travel_escaped_and_come_back_exact(generated):
    output = generated
    assert b">f+++++++++ new\\#012line\n" in (output / "rsync-image-diff.log").read_bytes()
    removals = (output / "files-to-remove.list").read_text()
    assert "/srv/app/gone\\#012with newline\n" in removals
    assert '/srv/app/gone \\"quoted\\" \\\\ $HOME' in (output / "Dockerfile").read_text()


@pytest.mark.store  # the layer loaded into each store
def test_layer_method_equals_new(kit, images, cleanup_images, tmp_path):
    """The same changes as one assembled layer: whiteouts, hardlinks kept
    whole inside the layer, /srv (above the path) with NEW's owner and mode."""
    tag = "difflayers-test-every-change:processed-layer"
    cleanup_images.append(tag)
    optimize = [
        sys.executable,
        "-m",
        "difflayers",
        "optimize",
        images["old"],
        images["new"],
        "--path",
        "/srv/app",
    ]
    result = sh([*optimize, "--method", "layer", "-t", tag, "--output", str(tmp_path)], kit, check=False)
    assert result.returncode == 0, result.stderr
    assert tree_differences(images["new"], tag) == []
    assert config_differences(images["new"], tag) == []
    with tarfile.open(tmp_path / "delta-layer.tar") as layer:
        members = {member.name: member for member in layer}
    assert members["srv"].isdir() and members["srv/app"].isdir()
    assert "srv/app/.wh.removed-file" in members
    # Every hardlink in the layer points at a name the layer itself holds.
    assert all(m.linkname in members for m in members.values() if m.islnk())


@pytest.mark.store  # BuildKit mounts each store's snapshots
def test_mounted_and_copied_comparisons_agree(kit, images, tmp_path):
    """The CLI compares trees mounted from the images (BuildKit) where it can,
    else copies them into volumes: the same differ must find the same log."""
    logs = {}
    for how in ("mounts", "volumes"):
        out = tmp_path / how
        argv = [sys.executable, "-m", "difflayers", "--quiet", "diff", images["old"], images["new"]]
        result = sh(
            [*argv, "--path", "/srv/app", "--output", str(out)], kit, {"DIFFLAYERS_COMPARE": how}, check=False
        )
        assert result.returncode == 0, result.stderr
        logs[how] = (out / "rsync-image-diff.log").read_bytes()
        meta = json.loads((out / "rsync-image-diff.json").read_text())
        logs[how + " relink"] = meta["relink"]
    assert logs["mounts"] == logs["volumes"] and logs["mounts"].count(b"\n") > 40
    assert logs["mounts relink"] == logs["volumes relink"]
