"""The layer method on the real engine and a real registry: images with no
shell, config NEW dropped, names a Dockerfile cannot carry, a directory
replaced whole, and the push by blob mount pulled back.

Every result is checked with the comparison that shares no code with the kit.
"""

import json
import os
import sys
import tarfile
import urllib.request

import pytest

from difflayers.core import treeindex

from .conftest import sh
from .independent import config_differences, inspect, tree_differences

pytestmark = pytest.mark.engine


def _build(tmp_path, tag, dockerfile: str, files: dict) -> str:
    """Build ``tag`` from a context holding ``files`` (name -> bytes or None for a directory)."""
    context = tmp_path / tag.replace(":", "-").replace("/", "-")
    context.mkdir()
    for name, data in files.items():
        path = context / "tree" / name
        if data is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    (context / "tree").mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    sh(["docker", "build", "-q", "-t", tag, "."], context)
    return tag


def _optimize(old, new, *args, check=True):
    result = sh(
        [sys.executable, "-m", "difflayers", "optimize", old, new, "--path", "/app", "--json", *args],
        ".",
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    return result


def _layers(image):
    return inspect(image)["RootFS"]["Layers"]


def _assert_equal(new, processed):
    assert tree_differences(new, processed) == []
    assert config_differences(new, processed) == []


@pytest.fixture
def scratch_pair(tmp_path, unique, cleanup_images):
    """FROM scratch images: no shell, no rm. NEW removes a file and a whole
    directory, changes a file, adds one, and changes the config."""
    common = {"keep.txt": b"kept\n", "sub/inner.txt": b"inner\n"}
    old = {**common, "change.txt": b"old\n", "gone.txt": b"bye\n", "gone-dir/a": b"a", "gone-dir/b/c": b"c"}
    new = {**common, "change.txt": b"new, longer\n", "added.txt": b"hello\n"}
    tags = {
        "old": _build(
            tmp_path,
            f"{unique}:old",
            'FROM scratch\nCOPY tree/ /app/\nENV MODE=old\nENTRYPOINT ["/app/run"]\n',
            old,
        ),
        "new": _build(
            tmp_path,
            f"{unique}:new",
            "FROM scratch\nCOPY tree/ /app/\nCOPY --chown=1000:1000 tree/added.txt /app/\n"
            'ENV MODE=new\nENTRYPOINT ["/app/run"]\nCMD ["serve"]\n',
            new,
        ),
    }
    cleanup_images.extend(tags.values())
    return tags


@pytest.mark.store  # the layer loaded into each store
def test_scratch_images_get_the_layer_method_and_equal_new(scratch_pair, unique, cleanup_images, tmp_path):
    processed = f"{unique}:processed"
    cleanup_images.append(processed)
    summary = _optimize(
        scratch_pair["old"], scratch_pair["new"], "-t", processed, "--output", str(tmp_path / "o")
    )
    assert summary["method"] == "layer"
    assert summary["verified"] is True
    assert summary["layers_added"] == 1
    assert _layers(processed)[:-1] == _layers(scratch_pair["old"])
    _assert_equal(scratch_pair["new"], processed)
    # Removals are whiteouts in the layer; the emptied directory is hidden by
    # one whiteout, not one per file.
    with tarfile.open(tmp_path / "o" / "delta-layer.tar") as layer:
        names = layer.getnames()
    assert "app/.wh.gone.txt" in names
    assert "app/.wh.gone-dir" in names
    assert not any(name.startswith("app/gone-dir/") for name in names)
    assert "app/keep.txt" not in names


def test_forcing_the_dockerfile_method_on_scratch_says_why(scratch_pair, unique):
    result = _optimize(
        scratch_pair["old"],
        scratch_pair["new"],
        "-t",
        f"{unique}:never",
        "--method",
        "dockerfile",
        check=False,
    )
    assert result.returncode == 2
    assert "has no /bin/rm" in result.stderr
    assert "--method layer" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def dropped_config_pair(tmp_path, unique, cleanup_images):
    """NEW drops an ENV and a port OLD had: no Dockerfile on OLD can unset them."""
    base = "FROM debian:bookworm-slim\n"
    tags = {
        "old": _build(
            tmp_path,
            f"{unique}:old",
            base + "ENV DEBUG=1 KEEP=yes\nEXPOSE 8080 9090\nCOPY tree/ /app/\n",
            {"a.py": b"print(1)\n", "b.py": b"old\n"},
        ),
        "new": _build(
            tmp_path,
            f"{unique}:new",
            base + "ENV KEEP=yes\nEXPOSE 8080\nCOPY tree/ /app/\n",
            {"a.py": b"print(2)\n"},
        ),
    }
    cleanup_images.extend(tags.values())
    return tags


def test_dropped_env_and_port_get_the_layer_method(dropped_config_pair, unique, cleanup_images):
    processed = f"{unique}:processed"
    cleanup_images.append(processed)
    summary = _optimize(dropped_config_pair["old"], dropped_config_pair["new"], "-t", processed)
    assert summary["method"] == "layer"
    assert summary["layers_added"] == 1
    _assert_equal(dropped_config_pair["new"], processed)
    config = inspect(processed)["Config"]
    assert not any(entry.startswith("DEBUG=") for entry in config["Env"])
    assert set(config["ExposedPorts"]) == {"8080/tcp"}


def test_the_layer_method_can_be_forced_where_a_dockerfile_would_do(tmp_path, unique, cleanup_images):
    base = "FROM debian:bookworm-slim\nCOPY tree/ /app/\n"
    old = _build(tmp_path, f"{unique}:old", base, {"x": b"1", "dir/y": b"2", "dir/z": b"3"})
    new = _build(tmp_path, f"{unique}:new", base, {"x": b"1", "dir/w": b"4"})
    processed = f"{unique}:processed"
    cleanup_images.extend([old, new, processed])
    auto = _optimize(old, new, "-t", f"{unique}:auto", "--output", str(tmp_path / "auto"))
    cleanup_images.append(f"{unique}:auto")
    assert auto["method"] == "dockerfile"
    forced = _optimize(old, new, "-t", processed, "--method", "layer", "--output", str(tmp_path / "o"))
    assert forced["method"] == "layer" and forced["layers_added"] == 1
    _assert_equal(new, processed)
    # dir/ kept none of OLD's entries: one opaque whiteout instead of one per name.
    with tarfile.open(tmp_path / "o" / "delta-layer.tar") as layer:
        names = layer.getnames()
    assert "app/dir/.wh..wh..opq" in names
    assert not any(name.startswith("app/dir/.wh.") and "opq" not in name for name in names)


@pytest.mark.store  # both checks read each store's images
def test_the_check_by_construction_and_the_full_one_agree(tmp_path, unique, cleanup_images):
    """The layer is made in the differ's pass (BuildKit mounts) and checked by
    construction, nothing read again; --verify full compares both images whole."""
    base = "FROM debian:bookworm-slim\nCOPY tree/ /app/\n"
    old = _build(tmp_path, f"{unique}:old", base, {"x": b"1", "dir/y": b"2", "deep/er/z": b"3"})
    new = _build(tmp_path, f"{unique}:new", base, {"x": b"one", "dir/y": b"2", "deep/er/w": b"4"})
    cleanup_images.extend([old, new, f"{unique}:made", f"{unique}:full"])
    made = _optimize(old, new, "-t", f"{unique}:made", "--method", "layer")
    assert made["compared"] == "mounts" and made["check"] == "construction" and made["verified"]
    assert "by construction" in made["equality"]
    full = _optimize(old, new, "-t", f"{unique}:full", "--method", "layer", "--verify", "full")
    assert full["check"] == "full" and full["verified"]
    for processed in (f"{unique}:made", f"{unique}:full"):
        _assert_equal(new, processed)


@pytest.mark.store  # in place on each store's snapshots
def test_a_change_outside_the_path_is_refused_before_anything_is_made(tmp_path, unique, cleanup_images):
    """NEW also changes /etc: a delta of /app cannot make NEW. The differ's pass
    finds it (both whole trees hashed outside the path): exit 2 naming the
    folder and the entry, before any image is made; nothing is tagged."""
    old = _build(tmp_path, f"{unique}:old", "FROM debian:bookworm-slim\nCOPY tree/ /app/\n", {"x": b"1"})
    new = _build(
        tmp_path,
        f"{unique}:new",
        "FROM debian:bookworm-slim\nCOPY tree/ /app/\nCOPY tree/x /etc/extra.conf\n",
        {"x": b"2"},
    )
    cleanup_images.extend([old, new, f"{unique}:made", f"{unique}:whole"])
    result = _optimize(old, new, "-t", f"{unique}:made", "--method", "layer", check=False)
    assert result.returncode == 2, result.stderr
    assert "outside /app in 1 entries (/etc (1); first: only in NEW: etc/extra.conf)" in result.stderr
    assert "nothing was made" in result.stderr and "Traceback" not in result.stderr
    assert sh(["docker", "image", "inspect", f"{unique}:made"], ".", check=False).returncode != 0
    # The advice holds: the whole image makes NEW, in one layer.
    assert "--path / (the whole image)" in result.stderr
    whole = [sys.executable, "-m", "difflayers", "optimize", old, new, "--path", "/", "-t", f"{unique}:whole"]
    assert json.loads(sh([*whole, "--json"], ".").stdout)["layers_added"] == 1
    _assert_equal(new, f"{unique}:whole")


def test_a_removed_name_that_is_not_utf8(tmp_path, unique, cleanup_images):
    """A Dockerfile cannot name it; a whiteout can."""
    make = "FROM debian:bookworm-slim\nRUN mkdir /app && echo 1 > /app/keep && {extra}\n"
    old = f"{unique}:old"
    new = f"{unique}:new"
    cleanup_images.extend([old, new, f"{unique}:processed"])
    for tag, extra in ((old, r"touch /app/caf$(printf '\351')"), (new, "echo 2 > /app/keep")):
        context = tmp_path / tag.split(":")[1]
        context.mkdir()
        (context / "Dockerfile").write_text(make.format(extra=extra))
        sh(["docker", "build", "-q", "-t", tag, "."], context)
    summary = _optimize(old, new, "-t", f"{unique}:processed")
    assert summary["method"] == "layer"
    _assert_equal(new, f"{unique}:processed")


def _registry_blob_bytes(storage) -> int:
    return sum(p.stat().st_size for p in (storage / "docker" / "registry" / "v2" / "blobs").rglob("data"))


@pytest.fixture
def pushed_old(registry, dropped_config_pair, unique):
    """OLD of the dropped-config pair, pushed to the registry; yields its name
    there. The test adds the tags it makes to the list; all are removed afterwards."""
    address, _ = registry
    old_remote = f"{address}/{unique}/app:old"
    made = [old_remote]
    sh(["docker", "tag", dropped_config_pair["old"], old_remote], ".")
    try:
        sh(["docker", "push", old_remote], ".")
        yield old_remote, made
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)


def _pulled_back_equal(new, target):
    """Deleted here, pulled from the registry, and still equal to NEW."""
    sh(["docker", "image", "rm", target], ".")
    sh(["docker", "pull", target], ".")
    _assert_equal(new, target)


@pytest.mark.store  # OLD's manifest comes from the store
def test_olds_manifest_is_read_where_old_was_pushed(registry, pushed_old, dropped_config_pair, image_store):
    """The image made is loaded with OLD's manifest; on containerd's store the
    engine gives it only inside `docker save`, read up to OLD's size. For an
    OLD pushed to a registry it is read there (kilobytes). Either way the image
    loaded equals NEW."""
    address, _ = registry
    old_remote, made = pushed_old
    tag = f"{old_remote}-made-here"
    made.append(tag)
    result = sh(
        [sys.executable, "-m", "difflayers", "optimize", old_remote, dropped_config_pair["new"],
         "--path", "/app", "-t", tag, "--method", "layer"],
        ".",
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    read_there = f"read from {address}, where it was pushed or pulled" in result.stderr
    assert read_there == (image_store == "containerd"), result.stderr
    _assert_equal(dropped_config_pair["new"], tag)


@pytest.mark.store  # OLD's layers as each store holds them
def test_push_mounts_old_layers_and_pulls_back_equal(registry, pushed_old, dropped_config_pair, unique):
    address, storage = registry
    old_remote, made = pushed_old
    target = f"{address}/{unique}/app-processed:new"
    made.append(target)
    before = _registry_blob_bytes(storage)
    summary = _optimize(old_remote, dropped_config_pair["new"], "--push", target)
    grown = _registry_blob_bytes(storage) - before
    assert summary["method"] == "layer"
    assert summary["layers_mounted"] == len(_layers(old_remote))
    assert 0 < summary["bytes_uploaded"] < 10_000
    # Layer, config and manifest, and NEW's tree index beside them: nothing else.
    assert grown == summary["bytes_uploaded"] + summary["new_index"]["bytes_sent"]
    # The registry's manifest: OLD's layer blobs, then one more.
    repo, tag = target.split("/", 1)[1].rsplit(":", 1)
    # containerd's store pushes OCI manifests, moby's Docker v2 ones.
    accept = ", ".join(
        ["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"]
    )

    def manifest(repository, reference):
        request = urllib.request.Request(
            f"http://{address}/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
        )
        return json.load(urllib.request.urlopen(request))

    old_manifest = manifest(f"{unique}/app", "old")
    new_manifest = manifest(repo, tag)
    assert new_manifest["layers"][:-1] == old_manifest["layers"]
    assert len(new_manifest["layers"]) == len(old_manifest["layers"]) + 1
    # Pulled back by an engine that has none of it under that name.
    _pulled_back_equal(dropped_config_pair["new"], target)


@pytest.mark.store  # the engine's push differs by store
def test_push_keeps_news_index_as_a_delta_on_olds(
    registry, pushed_old, dropped_config_pair, unique, tmp_path
):
    """OLD's index in the registry (``difflayers index --push``, from the engine's
    archive) names the entries the differ's pass indexes in place: NEW's index is
    then OLD's blob and a delta, and read back it composes to NEW's index."""
    address, _ = registry
    old_remote, made = pushed_old
    target = f"{address}/{unique}/app-processed:delta"
    made.append(target)
    kit = [sys.executable, "-m", "difflayers", "index"]
    sh([*kit, old_remote, "--path", "/app", "--push"], ".")
    summary = _optimize(old_remote, dropped_config_pair["new"], "--push", target)
    assert summary["new_index"]["parts"] == 2, summary["new_index"]
    sh(["docker", "image", "rm", target], ".")
    composed, from_engine = tmp_path / "composed.jsonl.gz", tmp_path / "engine.jsonl.gz"
    sh([*kit, target, "--path", "/app", "-o", str(composed)], ".")  # from the registry: composed, checked
    sh([*kit, dropped_config_pair["new"], "--path", "/app", "-o", str(from_engine)], ".")
    assert treeindex.load(composed.read_bytes()) == treeindex.load(from_engine.read_bytes())


@pytest.mark.store  # RepoDigests as each store records them
def test_push_refuses_an_old_that_was_never_pushed(registry, dropped_config_pair, unique):
    address, _ = registry
    result = _optimize(
        dropped_config_pair["old"], dropped_config_pair["new"], "--push", f"{address}/{unique}:x", check=False
    )
    assert result.returncode == 2
    assert "has not been pushed to" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.store  # the engine's push differs by store
def test_push_of_a_rebase_on_new_as_built_goes_through_the_engine(
    registry, pushed_old, dropped_config_pair, unique
):
    """The policy may say NEW as built (here: too few layers would be left);
    its layers are not OLD's to mount, so the engine pushes them."""
    address, _ = registry
    old_remote, made = pushed_old
    target = f"{address}/{unique}/app:rebased"
    made.append(target)
    result = _optimize(
        old_remote, dropped_config_pair["new"], "--push", target, "--min-layers-left", "124", check=False
    )
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert summary["chain"]["decision"] == "rebase-new"
    assert inspect(target)["Id"] == inspect(dropped_config_pair["new"])["Id"]
    _pulled_back_equal(dropped_config_pair["new"], target)


def _build_cache_records() -> dict:
    """Build cache record ID -> size. On containerd's store BuildKit sizes some
    records lazily: an older record's size may appear between two reads, so a
    run is judged by the records it made, not by the total."""
    import docker

    client = docker.from_env()
    try:
        return {record["ID"]: record["Size"] for record in client.df().get("BuildCache") or []}
    finally:
        client.close()


@pytest.mark.store  # BuildKit's cache lives in the store
def test_no_build_cache_holds_the_change(tmp_path, unique, cleanup_images, image_store):
    """The differ's step writes the delta into its output, and the Dockerfile
    method's build sends it as context: their records are pruned. What BuildKit
    will not prune by ID stays, as docs/cli.md says: on the classic store the
    Dockerfile method's ADD layer (one copy, while the image exists); on
    containerd's store also the differ's output, which BuildKit reports as
    shared (one copy for the layer method, up to three for the Dockerfile
    method, whose ADD record counts the change twice)."""
    base = "FROM debian:bookworm-slim\nCOPY tree/ /app/\n"
    change = os.urandom(4 << 20)
    old = _build(tmp_path, f"{unique}:old", base, {"keep": b"k", "big": b"old"})
    new = _build(tmp_path, f"{unique}:new", base, {"keep": b"k", "big": change})
    cleanup_images.extend([old, new, f"{unique}:layer", f"{unique}:dockerfile"])
    # The kit's tool image first: its own build cache is meant to stay.
    sh([sys.executable, "-m", "difflayers", "-q", "diff", old, new, "--path", "/app"], ".")
    for method in ("layer", "dockerfile"):
        before = _build_cache_records()
        made = _optimize(old, new, "-t", f"{unique}:{method}", "--method", method)
        assert made["compared"] == "mounts" and made["method"] == method
        grown = sum(size for record, size in _build_cache_records().items() if record not in before)
        copies = {
            ("classic", "layer"): 0,
            ("classic", "dockerfile"): 1,
            ("containerd", "layer"): 1,
            ("containerd", "dockerfile"): 3,
        }[image_store, method]
        allowed = copies * len(change) + len(change) // 4
        assert grown <= allowed, (method, grown)
