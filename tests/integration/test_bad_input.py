"""Bad input and interrupted runs on the compose path: a clear message, a
non-zero exit, nothing left running, and never a stale comparison."""

import json

import pytest

from .conftest import generate_dockerfile, sh
from .independent import config_differences, tree_differences

pytestmark = pytest.mark.engine


def build_image(tmp_path, tag, files, extra=""):
    """A small image: debian + ``files`` (name -> text) under /srv/app."""
    context = tmp_path / tag.replace(":", "_").replace("/", "_")
    (context / "app").mkdir(parents=True)
    for name, text in files.items():
        (context / "app" / name).write_text(text)
    (context / "Dockerfile").write_text(f"FROM debian:bookworm-slim\nCOPY app /srv/app\n{extra}\n")
    sh(["docker", "build", "-q", "-t", tag, "."], context)
    return tag


@pytest.fixture
def project(kit, unique):
    """Env for one isolated compose project; taken down (with volumes) after."""
    env = {
        "COMPOSE_PROJECT_NAME": unique,
        "RESTRICT_DIFF_TO_PATH": "/srv/app",
        "OLD_IMAGE": "x",
        "NEW_IMAGE": "x",
    }
    yield env
    sh(
        ["docker", "compose", "-f", "rsync-image-diff.docker-compose.yml", "down", "-v"],
        kit,
        env,
        check=False,
    )


@pytest.fixture
def pair(tmp_path, unique, cleanup_images):
    old = build_image(tmp_path, f"{unique}:old", {"a": "1", "b": "2"})
    new = build_image(tmp_path, f"{unique}:new", {"a": "1 changed", "c": "3"})
    other = build_image(tmp_path, f"{unique}:other", {"z": "26"})
    cleanup_images.extend([old, new, other])
    return old, new, other


def up(kit, env, **more):
    return sh(
        ["docker", "compose", "-f", "rsync-image-diff.docker-compose.yml", "up"],
        kit,
        {**env, **more},
        check=False,
    )


def running(project_name):
    return sh(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project_name}"], "."
    ).stdout.strip()


def dangling_volumes():
    return set(sh(["docker", "volume", "ls", "-q", "--filter", "dangling=true"], ".").stdout.split())


def log_names(kit):
    return sorted(line[12:] for line in (kit / "output" / "rsync-image-diff.log").read_text().splitlines())


@pytest.mark.store  # how each store answers for an image it lacks
def test_missing_image_fails_clearly(kit, project, pair):
    result = up(kit, project, OLD_IMAGE="difflayers-test-no-such-image:1", NEW_IMAGE=pair[1])
    assert result.returncode != 0
    assert "difflayers-test-no-such-image" in result.stdout + result.stderr
    assert running(project["COMPOSE_PROJECT_NAME"]) == ""


@pytest.mark.parametrize(
    "path,message",
    [
        ("/srv/nowhere", "does not exist in image"),
        ("/srv/app/a", ""),
        ("/", "can't be '/'"),  # Docker's own words: a volume cannot be mounted at /
        ("/etc", "cannot be read through a container"),  # /etc/hosts would be Docker's stand-in
        ("/srv/app /etc", "--path /srv/app --path /etc"),  # a list: one per run here, or the CLI's union
    ],
)
def test_path_not_a_directory_fails_clearly(kit, project, pair, path, message):
    result = up(kit, project, OLD_IMAGE=pair[0], NEW_IMAGE=pair[1], RESTRICT_DIFF_TO_PATH=path)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert running(project["COMPOSE_PROJECT_NAME"]) == ""


def test_unset_variables_are_named(kit, unique):
    result = sh(
        ["docker", "compose", "-f", "rsync-image-diff.docker-compose.yml", "up"],
        kit,
        {"COMPOSE_PROJECT_NAME": unique, "OLD_IMAGE": "", "NEW_IMAGE": "", "RESTRICT_DIFF_TO_PATH": ""},
        check=False,
    )
    assert result.returncode != 0
    # Compose names the first missing variable it meets, in no fixed order.
    hints = ("set OLD_IMAGE to", "set NEW_IMAGE to", "set RESTRICT_DIFF_TO_PATH to")
    assert any(hint in result.stderr for hint in hints), result.stderr


def test_rerun_with_other_images_compares_fresh_copies(kit, project, pair):
    old, new, other = pair
    assert up(kit, project, OLD_IMAGE=old, NEW_IMAGE=new).returncode == 0
    assert log_names(kit) == ["a", "b", "c"]
    assert up(kit, project, OLD_IMAGE=other, NEW_IMAGE=new).returncode == 0
    assert log_names(kit) == ["a", "c", "z"]


def test_copies_left_by_an_interrupted_run_are_never_compared(kit, project, pair):
    old, new, other = pair
    # `create` fills the volumes and stops there, as a run interrupted before the differ would.
    sh(
        ["docker", "compose", "-f", "rsync-image-diff.docker-compose.yml", "create"],
        kit,
        {**project, "OLD_IMAGE": old, "NEW_IMAGE": new},
    )
    stale = up(kit, project, OLD_IMAGE=other, NEW_IMAGE=new)
    assert stale.returncode != 0
    assert "interrupted run" in stale.stdout + stale.stderr
    assert running(project["COMPOSE_PROJECT_NAME"]) == ""
    fresh = up(kit, project, OLD_IMAGE=other, NEW_IMAGE=new)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert log_names(kit) == ["a", "c", "z"]


def test_generate_refuses_a_diff_made_for_other_images(kit, project, pair):
    old, new, other = pair
    assert up(kit, project, OLD_IMAGE=old, NEW_IMAGE=new).returncode == 0
    before = (kit / "output" / "rsync-image-diff.json").read_text()
    result = generate_dockerfile(kit, {**project, "OLD_IMAGE": other, "NEW_IMAGE": new}, check=False)
    assert result.returncode == 2
    assert "run rsync-image-diff again" in result.stderr
    assert (kit / "output" / "rsync-image-diff.json").read_text() == before


def generate_and_build(kit, env, tag, **more):
    result = generate_dockerfile(kit, {**env, **more}, check=False)
    if result.returncode == 0:
        sh(["docker", "build", "-q", "-t", tag, "."], kit / "output")
    return result


def test_new_runtime_config_wins(kit, project, tmp_path, unique, cleanup_images):
    old = build_image(
        tmp_path,
        f"{unique}:cfg-old",
        {"a": "1"},
        'ENV KEEP=1 CHANGE=old\nLABEL tier=old\nWORKDIR /srv\nCMD ["sleep", "1"]',
    )
    new = build_image(
        tmp_path,
        f"{unique}:cfg-new",
        {"a": "2"},
        'ENV KEEP=1 CHANGE="new $value" ADDED=yes\nLABEL tier=new extra="a b"\nEXPOSE 8080/tcp\n'
        "VOLUME /data\nWORKDIR /srv/app\nUSER 1000:1000\nSTOPSIGNAL SIGINT\n"
        'HEALTHCHECK --interval=30s CMD ["true"]\nENTRYPOINT ["/bin/echo"]\nCMD ["hello world"]',
    )
    processed = f"{unique}:cfg-processed"
    cleanup_images.extend([old, new, processed])
    env = {**project, "OLD_IMAGE": old, "NEW_IMAGE": new}
    dangling_before = dangling_volumes()
    assert up(kit, env).returncode == 0
    result = generate_and_build(kit, env, processed)
    assert result.returncode == 0, result.stderr
    assert dangling_volumes() == dangling_before  # NEW's VOLUME /data left no anonymous volume
    assert config_differences(new, processed) == []
    assert tree_differences(new, processed) == []


def test_config_a_dockerfile_cannot_express_is_refused_unless_accepted(
    kit, project, tmp_path, unique, cleanup_images
):
    old = build_image(tmp_path, f"{unique}:drop-old", {"a": "1"}, "ENV DROPPED=1\nEXPOSE 80")
    new = build_image(tmp_path, f"{unique}:drop-new", {"a": "2"})
    processed = f"{unique}:drop-processed"
    cleanup_images.extend([old, new, processed])
    env = {**project, "OLD_IMAGE": old, "NEW_IMAGE": new}
    assert up(kit, env).returncode == 0
    refused = generate_and_build(kit, env, processed)
    assert refused.returncode == 2
    assert "ENV DROPPED" in refused.stderr and "EXPOSE 80/tcp" in refused.stderr
    accepted = generate_and_build(kit, env, processed, ALLOW_CONFIG_DRIFT="1")
    assert accepted.returncode == 0
    assert tree_differences(new, processed) == []
    assert (
        json.loads(sh(["docker", "image", "inspect", processed], ".").stdout)[0]["Config"]["Env"].count(
            "DROPPED=1"
        )
        == 1
    )


def test_removals_run_as_root_when_old_runs_as_another_user(kit, project, tmp_path, unique, cleanup_images):
    old = build_image(tmp_path, f"{unique}:user-old", {"a": "1", "b": "2"}, "USER 1000")
    new = build_image(tmp_path, f"{unique}:user-new", {"a": "1"}, "USER 1000")
    processed = f"{unique}:user-processed"
    cleanup_images.extend([old, new, processed])
    env = {**project, "OLD_IMAGE": old, "NEW_IMAGE": new}
    assert up(kit, env).returncode == 0
    result = generate_and_build(kit, env, processed)
    assert result.returncode == 0, result.stderr
    assert tree_differences(new, processed) == []
    assert config_differences(new, processed) == []
