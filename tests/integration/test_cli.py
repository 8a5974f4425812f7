"""The difflayers command on the real engine: each command, each bad input,
an interrupted run and two runs at once, with leaks counted."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, everything, on_podman, sh
from .independent import added_layers, config_differences, tree_differences

pytestmark = pytest.mark.engine
# The command under test: this checkout's, or (DIFFLAYERS_TEST_CLI) another
# installation's, as CI runs these tests again against the built wheel.
CLI = (
    [os.environ["DIFFLAYERS_TEST_CLI"]]
    if os.environ.get("DIFFLAYERS_TEST_CLI")
    else [sys.executable, "-m", "difflayers"]
)


def build(tmp_path, tag, script, extra=""):
    context = tmp_path / tag.replace(":", "_").replace("/", "_")
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM debian:bookworm-slim\nRUN {script}\n{extra}\n")
    sh(["docker", "build", "-q", "-t", tag, "."], context)
    return tag


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    tags = {
        "old": build(
            tmp,
            "difflayers-test-cli:old",
            "mkdir -p /srv/app && cd /srv/app && echo 1 > a && echo 2 > b "
            "&& head -c 3000000 /dev/urandom > big",
        ),
        "new": build(
            tmp,
            "difflayers-test-cli:new",
            "mkdir -p /srv/app && cd /srv/app && echo 1 > a && echo 3 > c "
            "&& head -c 3000000 /dev/urandom > big",
            'CMD ["true"]',
        ),
    }
    tags["same-tree"] = build(
        tmp,
        "difflayers-test-cli:same-tree",
        "mkdir -p /srv/app && cd /srv/app && echo 1 > a && echo 2 > b",
        "LABEL x=y",
    )
    tags["same-tree-old"] = build(
        tmp,
        "difflayers-test-cli:same-tree-old",
        "mkdir -p /srv/app && cd /srv/app && echo 1 > a && echo 2 > b",
    )
    yield tags
    subprocess.run(["docker", "image", "rm", "-f", *tags.values()], capture_output=True, check=False)


def cli(*args, env=None, check=False):
    return sh([*CLI, *args], ".", env=env, check=check)


@pytest.mark.store  # the command as users run it, on each store
def test_optimize(pair, cleanup_images):
    before = everything()
    tag = "difflayers-test-cli:processed"
    cleanup_images.append(tag)
    result = cli("--quiet", "optimize", pair["old"], pair["new"], "--path", "/srv/app", "-t", tag, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["new"], summary["changed"], summary["removed"]) == (1, 1, 1)  # c; big; b
    assert summary["layers_added"] == 2
    assert summary["naive_bytes"] > 3_000_000 and summary["bytes_added"] < 3_100_000
    assert tree_differences(pair["new"], tag) == [] and config_differences(pair["new"], tag) == []
    assert everything() == before


def test_verification_failure_exits_1_and_tags_nothing(pair, tmp_path, cleanup_images):
    # NEW also differs outside --path, which a delta of --path cannot carry.
    outside = build(
        tmp_path,
        "difflayers-test-cli:outside",
        "mkdir -p /srv/app && echo 1 > /srv/app/a && echo x > /etc/extra",
    )
    cleanup_images.extend([outside, "difflayers-test-cli:never"])
    before = everything()
    optimize = ["--quiet", "optimize", pair["same-tree-old"], outside, "--path", "/srv/app"]
    # Compared in place (BuildKit, Buildah), both whole images are too: refused before anything is made.
    early = cli(*optimize, "-t", "difflayers-test-cli:never")
    assert early.returncode == 2 and "outside /srv/app in 1 entries (/etc (1)" in early.stderr, early.stderr
    assert "nothing was made" in early.stderr and everything() == before
    # Copied into volumes, only the path is compared: the verification finds it.
    result = cli(*optimize, "-t", "difflayers-test-cli:never", env={"DIFFLAYERS_COMPARE": "volumes"})
    assert result.returncode == 1, result.stderr
    assert "was not tagged" in result.stderr
    # What differs, where, what was compared, and the files to look further.
    assert "only in A: etc/extra" in result.stderr
    # An export shows Docker's stand-ins for /etc/hosts and the like, not the image's: said
    # (Podman's export shows the image's own).
    whole = "the whole filesystem" + (
        "" if on_podman() else " but what Docker puts in every container (/.dockerenv"
    )
    assert whole in result.stderr and "and the runtime config were compared" in result.stderr
    kept = re.search(r"The files it was made from are kept in (\S+): ", result.stderr)
    assert kept and "--output" not in result.stderr, result.stderr
    assert (Path(kept.group(1)) / "Dockerfile").is_file()
    assert "difflayers-unverified" not in result.stderr  # an image already removed is not named
    shutil.rmtree(kept.group(1))
    assert sh(["docker", "images", "-q", "difflayers-test-cli:never"], ".").stdout.strip() == ""
    assert everything() == before


@pytest.mark.once  # what is printed, not how the store made it
def test_progress_and_summary_are_readable(pair, cleanup_images):
    tag = "difflayers-test-cli:processed-text"
    cleanup_images.append(tag)
    result = cli("optimize", pair["old"], pair["new"], "--path", "/srv/app", "-t", tag)
    assert result.returncode == 0, result.stderr
    for step in ("comparing the trees", "building", "verifying"):
        assert step in result.stderr
    # Mounted from the images where BuildKit is at hand (here), else copied.
    assert "mounted from the images" in result.stderr or "copying /srv/app" in result.stderr
    assert "1 new, 1 changed, 1 removed" in result.stdout and "verified equal to NEW" in result.stdout


def test_diff_json_is_the_plan(pair, tmp_path):
    result = cli(
        "--quiet", "diff", pair["old"], pair["new"], "--path", "/srv/app", "--json", "--output", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["ship"] == ["big", "c"] and plan["remove"] == ["b"]
    assert (tmp_path / "rsync-image-diff.log").is_file()


def test_identical_trees_add_nothing(pair, cleanup_images):
    tag = "difflayers-test-cli:same-processed"
    cleanup_images.append(tag)
    result = cli(
        "--quiet",
        "optimize",
        pair["same-tree-old"],
        pair["same-tree"],
        "--path",
        "/srv/app",
        "-t",
        tag,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["layers_added"] == 0
    assert added_layers(tag, pair["same-tree-old"])[0] == 0
    assert config_differences(pair["same-tree"], tag) == []


@pytest.mark.store  # layer sizes as each store gives them
def test_report(pair, cleanup_images):
    tag = "difflayers-test-cli:processed-report"
    cleanup_images.append(tag)
    assert (
        cli("--quiet", "optimize", pair["old"], pair["new"], "--path", "/srv/app", "-t", tag).returncode == 0
    )
    figures = json.loads(
        cli("report", tag, "--base", pair["old"], "--new", pair["new"], "--json", check=True).stdout
    )
    assert len(figures["layers"]) >= 2
    assert figures["bytes_added"] == added_layers(tag, pair["old"])[1]
    assert figures["bytes_saved"] == figures["naive_bytes"] - figures["bytes_added"]
    text = cli("report", tag, "--base", pair["old"], "--new", pair["new"], check=True).stdout
    assert "saved" in text


@pytest.mark.once  # refused before an image is made
@pytest.mark.parametrize(
    "case,args,env,message",
    [
        (
            "missing image",
            ["optimize", "difflayers-test-none:1", "{new}", "--path", "/srv/app", "-t", "x:y"],
            {},
            "not in the local engine",
        ),
        (
            "missing path",
            ["optimize", "{old}", "{new}", "--path", "/srv/nowhere", "-t", "x:y"],
            {},
            "/srv/nowhere does not exist",
        ),
        (
            "path is a file",
            ["optimize", "{old}", "{new}", "--path", "/srv/app/a", "-t", "x:y"],
            {},
            "is a file",
        ),
        ("relative path", ["diff", "{old}", "{new}", "--path", "srv/app"], {}, "absolute"),
        ("OLD is NEW", ["optimize", "{old}", "{old}", "--path", "/srv/app", "-t", "x:y"], {}, "same image"),
        (
            "no engine",
            ["optimize", "{old}", "{new}", "--path", "/srv/app", "-t", "x:y"],
            {"DOCKER_HOST": "unix:///nonexistent.sock"},
            "cannot reach a container engine; is it running? Looked at unix:///nonexistent.sock",
        ),
        (
            "unwritable output",
            ["diff", "{old}", "{new}", "--path", "/srv/app", "--output", "/proc/difflayers"],
            {},
            "cannot write",
        ),
    ],
)
def test_bad_input_is_one_clear_line(pair, case, args, env, message):
    before = everything()
    result = cli(*[a.format(**pair) for a in args], env=env)
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("difflayers: error:") and message in lines[-1], (case, result.stderr)
    assert "Traceback" not in result.stderr
    assert everything() == before, case


def load_foreign_image(tmp_path, tag, architecture):
    """``docker load`` a one-layer image whose config names another architecture."""
    (tmp_path / "rootfs" / "srv" / "app").mkdir(parents=True)
    layer = tmp_path / "layer.tar"
    subprocess.run(["tar", "-C", str(tmp_path / "rootfs"), "-cf", str(layer), "."], check=True)
    diff_id = "sha256:" + hashlib.sha256(layer.read_bytes()).hexdigest()
    config = {
        "architecture": architecture,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "manifest.json").write_text(
        json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"]}])
    )
    archive = tmp_path / "image.tar"
    subprocess.run(
        ["tar", "-C", str(tmp_path), "-cf", str(archive), "manifest.json", "config.json", "layer.tar"],
        check=True,
    )
    sh(["docker", "load", "-i", str(archive)], ".")


@pytest.mark.store  # the platform as each store records it
def test_other_architecture_is_refused(pair, tmp_path, cleanup_images):
    tag = "difflayers-test-cli:arm64"
    cleanup_images.append(tag)
    load_foreign_image(tmp_path, tag, "arm64")
    result = cli("diff", pair["old"], tag, "--path", "/srv/app")
    assert result.returncode == 2 and "Architecture" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def run_seconds(pair):
    """How long the run interrupted below takes uninterrupted here: the moments
    it is interrupted at are parts of it (a run faster than a fixed moment
    would end before the signal and test nothing)."""
    tag = "difflayers-test-cli:timed"
    argv = ["optimize", pair["old"], pair["new"], "--path", "/srv/app", "-t", tag]
    assert cli(*argv).returncode == 0  # warm: the tool image built, caches as a run finds them
    sh(["docker", "image", "rm", "-f", tag], ".", check=False)
    started = time.monotonic()
    result = cli(*argv)
    seconds = time.monotonic() - started
    sh(["docker", "image", "rm", "-f", tag], ".", check=False)
    assert result.returncode == 0, result.stderr
    return seconds


@pytest.mark.parametrize("when", ["first volume", "15%", "35%", "55%"])
def test_interrupted_run_leaves_nothing(pair, when, cleanup_images, run_seconds):
    # A run interrupted after it tagged its verified image keeps that output.
    cleanup_images.append("difflayers-test-cli:interrupted")
    before = everything()
    argv = [
        *CLI,
        "optimize",
        pair["old"],
        pair["new"],
        "--path",
        "/srv/app",
        "-t",
        "difflayers-test-cli:interrupted",
    ]
    # "first volume": during the copy into volumes, the comparison used where
    # BuildKit cannot mount the images.
    env = {**os.environ, **({"DIFFLAYERS_COMPARE": "volumes"} if when == "first volume" else {})}
    share = None if when == "first volume" else float(when.rstrip("%")) / 100
    for _ in range(3):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if share is None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # as soon as the run has made something
                ours = sh(
                    ["docker", "volume", "ls", "-q", "--filter", "label=io.github.difflayers.run"], "."
                ).stdout
                if set(ours.split()) - before[1]:
                    break
                time.sleep(0.05)
        else:
            time.sleep(run_seconds * share)
        if proc.poll() is None or share is None:
            break
        proc.communicate()  # ended before the signal: quicker than the run timed; again, earlier
        sh(["docker", "image", "rm", "-f", "difflayers-test-cli:interrupted"], ".", check=False)
        share *= 0.6
    assert proc.poll() is None, f"the run ended before {when} of {run_seconds:.1f} s (three tries)"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err
    assert everything() == before


@pytest.mark.once  # runs' names and sweeps, the same on either store
def test_two_runs_at_once(pair, cleanup_images):
    tags = ["difflayers-test-cli:parallel-1", "difflayers-test-cli:parallel-2"]
    cleanup_images.extend(tags)
    procs = [
        subprocess.Popen(
            [*CLI, "--quiet", "optimize", pair["old"], pair["new"], "--path", "/srv/app", "-t", tag],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in tags
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    for tag in tags:
        assert tree_differences(pair["new"], tag) == []


def test_works_where_the_engine_cannot_see_our_files(pair, cleanup_images):
    """Run from a container that shares only the engine's socket, as with a
    remote DOCKER_HOST: any bind mount of the CLI's own files would fail."""
    tag = "difflayers-test-cli:from-elsewhere"
    cleanup_images.append(tag)
    before = everything()
    result = sh(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            # The engine's socket, as the Compose files mount it (scripts/engine-env.sh).
            f"{os.environ.get('DOCKER_SOCKET', '/var/run/docker.sock')}:/var/run/docker.sock",
            "--workdir",
            "/",
            "difflayers-kit:local",
            "python3",
            "-m",
            "difflayers",
            "--quiet",
            "optimize",
            pair["old"],
            pair["new"],
            "--path",
            "/srv/app",
            "-t",
            tag,
            "--json",
        ],
        ".",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["layers_added"] == 2
    assert tree_differences(pair["new"], tag) == []
    assert everything() == before


@pytest.mark.once  # the flag's flow; each store verifies in other tests
def test_skip_verify_tags_at_once_and_times_each_step(pair, cleanup_images):
    tag = "difflayers-test-cli:unverified-on-purpose"
    cleanup_images.append(tag)
    result = cli(
        "--quiet",
        "optimize",
        pair["old"],
        pair["new"],
        "--path",
        "/srv/app",
        "-t",
        tag,
        "--skip-verify",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verified"] is False
    assert set(summary["step_seconds"]) == {"diff", "policy", "make"}
    assert tree_differences(pair["new"], tag) == []


@pytest.mark.once  # refused before the engine is asked
@pytest.mark.parametrize(
    "tag, reason",
    [("difflayers-test-cli:", "the tag after ':' is empty"), ("x:a:b", "not a valid repository")],
)
def test_a_bad_tag_is_refused_before_any_work(pair, tag, reason):
    before = everything()
    started = time.monotonic()
    result = cli("optimize", pair["old"], pair["new"], "--path", "/srv/app", "-t", tag)
    assert result.returncode == 2 and reason in result.stderr, result.stderr
    assert "comparing" not in result.stderr  # refused before the diff
    assert time.monotonic() - started < 10
    for name in ("difflayers-test-cli:latest", "x:b", "x:latest"):
        assert sh(["docker", "images", "-q", name], ".").stdout.strip() == "", name
    assert everything() == before


@pytest.mark.store  # tags and image IDs differ by store
def test_tag_equal_to_olds_own_moves_it_with_true_figures(pair, cleanup_images):
    moving = "difflayers-test-cli:moving"
    sh(["docker", "tag", pair["old"], moving], ".")
    cleanup_images.append(moving)
    old_id = sh(["docker", "image", "inspect", "--format", "{{.Id}}", pair["old"]], ".").stdout.strip()
    result = cli("--quiet", "optimize", moving, pair["new"], "--path", "/srv/app", "-t", moving, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["layers_added"], summary["bytes_added"]) == added_layers(moving, old_id)
    assert summary["layers_added"] == 2 and summary["bytes_added"] > 3_000_000
    assert summary["notes"] == [
        f"{moving} was OLD's tag; it now names the processed image (OLD stays as {old_id[:19]})"
    ]
    assert tree_differences(pair["new"], moving) == []


@pytest.mark.once  # the user's files, not the engine's
def test_output_folder_of_the_user_is_not_overwritten(pair, tmp_path, cleanup_images):
    tag = "difflayers-test-cli:own-output"
    cleanup_images.append(tag)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM mine\n")
    args = [
        "--quiet",
        "optimize",
        pair["old"],
        pair["new"],
        "--path",
        "/srv/app",
        "-t",
        tag,
        "--output",
        str(folder),
    ]
    refused = cli(*args)
    assert (
        refused.returncode == 2
        and "holds files the kit did not write (first: 'Dockerfile')" in refused.stderr
    )
    assert (folder / "Dockerfile").read_text() == "FROM mine\n"
    assert cli(*args, "--replace-output").returncode == 0
    assert (folder / "Dockerfile").read_text() != "FROM mine\n"
    # Now the kit's folder: a second run needs no flag.
    assert cli(*args).returncode == 0


def test_images_without_env_get_the_layer_method(tmp_path, cleanup_images):
    # `docker import` makes images with no Env: a Dockerfile build would add PATH.
    tags = {}
    for side, files in (("old", {"a": "1", "b": "2"}), ("new", {"a": "1", "c": "3"})):
        root = tmp_path / side / "app"
        root.mkdir(parents=True)
        for name, text in files.items():
            (root / name).write_text(text)
        archive = tmp_path / f"{side}.tar"
        subprocess.run(["tar", "-C", str(tmp_path / side), "-cf", str(archive), "app"], check=True)
        tags[side] = f"difflayers-test-cli:imported-{side}"
        sh(["docker", "import", str(archive), tags[side]], ".")
    processed = "difflayers-test-cli:imported-processed"
    cleanup_images.extend([*tags.values(), processed])
    result = cli("--quiet", "optimize", tags["old"], tags["new"], "--path", "/app", "-t", processed, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["method"] == "layer"
    assert tree_differences(tags["new"], processed) == [] and config_differences(tags["new"], processed) == []


@pytest.mark.once  # the words of a message
@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["diff", "{old}", "{new}", "--path", "//srv/app"],
            "--path must be normalised: '//srv/app' (try '/srv/app')",
        ),
        (["verify", "{old}", "{new}", "--path", "/srv/new\nline"], "/srv/new\nline does not exist"),
        (["verify", "{old}", "{new}", "--path", "/srv/a:b"], "/srv/a:b does not exist"),
    ],
)
def test_messages_speak_of_what_the_user_typed(pair, args, message):
    result = cli(*[a.format(**pair) for a in args])
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "RESTRICT_DIFF_TO_PATH" not in result.stderr and "volume" not in result.stderr


@pytest.mark.once  # where the engine is found
def test_the_current_docker_context_names_the_engine(pair, tmp_path):
    """As the docker CLI does: with no DOCKER_HOST, DOCKER_CONTEXT or `docker context
    use` decides; an engine that does not answer is named with what named it."""
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    for name, endpoint in (("here", host), ("nowhere", "unix:///nonexistent/difflayers.sock")):
        sh(["docker", "context", "create", name, "--docker", f"host={endpoint}"], ".", env)
    clean = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}

    def diff_in(context):
        sh(["docker", "context", "use", context], ".", {**clean, **env})
        return subprocess.run(
            [*CLI, "diff", pair["old"], pair["new"], "--path", "/srv/app", "--json"],
            env={**clean, **env},
            capture_output=True,
            text=True,
            check=False,
        )

    here = diff_in("here")
    assert here.returncode == 0, here.stderr
    assert json.loads(here.stdout)["ship"] == ["big", "c"]
    missing = diff_in("nowhere")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr
    assert "unix:///nonexistent/difflayers.sock (the Docker context 'nowhere')" in missing.stderr
    # DOCKER_CONTEXT wins over the current context, as for the docker CLI.
    chosen = subprocess.run(
        [*CLI, "diff", pair["old"], pair["new"], "--path", "/srv/app", "--json"],
        env={**clean, **env, "DOCKER_CONTEXT": "here"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert chosen.returncode == 0, chosen.stderr


@pytest.mark.parametrize("builder", ["buildkit", "classic"])
@pytest.mark.store  # what each builder leaves in each store
def test_the_dockerfile_method_builds_with_either_builder(pair, builder, cleanup_images, request):
    if builder == "buildkit":
        request.getfixturevalue("buildkit_engine")
    tag = f"difflayers-test-cli:built-by-{builder}"
    cleanup_images.append(tag)
    args = ["optimize", pair["old"], pair["new"], "--path", "/srv/app", "-t", tag, "--method", "dockerfile"]
    result = cli(*args, "--json", env={"DIFFLAYERS_BUILDER": builder})
    assert result.returncode == 0, result.stderr
    assert ("with BuildKit" in result.stderr) == (builder == "buildkit"), result.stderr
    assert json.loads(result.stdout)["method"] == "dockerfile"
    assert tree_differences(pair["new"], tag) == [] and config_differences(pair["new"], tag) == []


@pytest.mark.once  # the shape of the output
def test_every_json_output_matches_its_schema(pair, cleanup_images, tmp_path):
    """Each command's --json against docs/schemas/COMMAND.schema.json (version 1)."""
    import jsonschema

    schemas = REPO / "docs" / "schemas"
    tag = "difflayers-test-cli:schema"
    cleanup_images.append(tag)
    runs = {
        "optimize": ["optimize", pair["old"], pair["new"], "--path", "/srv/app", "-t", tag, "--json"],
        "diff": ["diff", pair["old"], pair["new"], "--path", "/srv/app", "--json"],
        "verify": ["verify", pair["new"], tag, "--json"],
        "report": ["report", tag, "--json"],
        "prune": ["prune", "--json"],
        "index": [
            "index",
            pair["new"],
            "--path",
            "/srv/app",
            "-o",
            str(tmp_path / "index.jsonl.gz"),
            "--json",
        ],
    }
    outputs = {name: cli(*argv, check=True).stdout for name, argv in runs.items()}
    outputs["report --base"] = cli("report", tag, "--base", pair["old"], "--json", check=True).stdout
    for name, text in outputs.items():
        schema = json.loads((schemas / f"{name.split()[0]}.schema.json").read_text())
        document = json.loads(text)
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
        assert document["schema"] == 1, name
