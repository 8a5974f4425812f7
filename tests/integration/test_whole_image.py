"""The whole image (``--path /``): a base-image refresh ships as OLD + one layer.

NEW is built on a refreshed base: the base's one layer re-made with a few files
patched, one added, one removed (as a security update does), so NEW shares no
layer with OLD and ``docker push`` would send the whole base again. Among the
changes are /etc/hosts and /etc/hostname, which every container shows as
Docker's own stand-ins: only the image's layers tell them, so the result is
compared with NEW by ``independent.saved_tree`` (``docker save``, layers applied
by the test itself), not through a container.
"""

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import urllib.request

import pytest

from .conftest import sh
from .independent import config_differences, saved_layers, saved_tree, saved_tree_differences
from .registries import only_in_registry

pytestmark = pytest.mark.engine
CLI = [sys.executable, "-m", "difflayers"]
BASE = "debian:bookworm-slim"

PATCHED = {  # the refresh: name in the base layer -> bytes appended
    "usr/share/doc/zlib1g/copyright": b"\npatched\n",
    "usr/share/doc/zlib1g/changelog.gz": b"\npatched\n",
}
# Written whether the base has them or not: two of them are Docker's stand-ins.
WRITTEN = {
    "etc/patched-release": b"bookworm, patched\n",
    "etc/hosts": b"127.0.0.1 localhost\n",
    "etc/hostname": b"refreshed\n",
}
REMOVED = "usr/share/doc/tzdata/changelog.Debian.gz"


def _refreshed_layer(base: str) -> tuple:
    """(the base's only layer re-written with the refresh, names created, names changed)."""
    (layer,) = saved_layers(base)
    out, changed, removed = io.BytesIO(), set(), False
    with tarfile.open(fileobj=io.BytesIO(layer)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src:
            name = member.name.removeprefix("./")
            if name == REMOVED or name in WRITTEN:
                removed |= name == REMOVED
                changed |= {name} & set(WRITTEN)
                continue
            body = src.extractfile(member).read() if member.isreg() else None
            if name in PATCHED:
                body += PATCHED[name]
                member.size = len(body)
                changed.add(name)
            dst.addfile(member, io.BytesIO(body) if body is not None else None)
        for name, body in WRITTEN.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o644
            dst.addfile(info, io.BytesIO(body))
    assert removed and set(PATCHED) <= changed, changed
    return out.getvalue(), set(WRITTEN) - changed, changed


@pytest.fixture(scope="module")
def refresh(tmp_path_factory, unique_module):
    """{"old": OLD on the base, "new": NEW on the refreshed base}, the app changed too."""
    tmp = tmp_path_factory.mktemp("refresh")
    names = {role: f"difflayers-test-refresh-{unique_module}:{role}" for role in ("base", "old", "new")}
    layer, created, changed = _refreshed_layer(BASE)
    subprocess.run(
        ["docker", "import", "--change", 'CMD ["bash"]', "-", names["base"]],
        input=layer,
        check=True,
        capture_output=True,
    )
    for role, base, text in (("old", BASE, "1"), ("new", names["base"], "2")):
        context = tmp / role
        (context / "app").mkdir(parents=True)
        (context / "app" / "version").write_text(text)
        (context / "app" / "same").write_bytes(bytes(range(256)) * 64)
        (context / "Dockerfile").write_text(f'FROM {base}\nCOPY app /app\nCMD ["cat", "/app/version"]\n')
        sh(["docker", "build", "-q", "-t", names[role], "."], context)
    # Counts as the kit reports them: /app/version changed too.
    yield {**names, "counts": (len(created), len(changed) + 1, 1)}
    sh(["docker", "image", "rm", "-f", *names.values()], ".", check=False)


@pytest.mark.parametrize("method", ["layer", "dockerfile"])
@pytest.mark.store  # every layer as each store keeps it
def test_a_base_refresh_ships_as_one_small_layer_equal_to_new(refresh, unique, method):
    made = f"{unique}:processed"
    try:
        result = sh(
            [*CLI, "optimize", refresh["old"], refresh["new"], "--path", "/", "-t", made]
            + ["--method", method, "--verify", "full", "--json"],
            ".",
        )
        done = json.loads(result.stdout)
        assert done["verified"] and done["check"] == "full"
        assert (done["new"], done["changed"], done["removed"]) == refresh["counts"], done
        assert done["bytes_added"] < 100_000 < 100_000_000 < done["naive_bytes"], done
        base_layers = json.loads(sh(["docker", "image", "inspect", refresh["old"]], ".").stdout)[0]
        layers = json.loads(sh(["docker", "image", "inspect", made], ".").stdout)[0]
        old_layers = base_layers["RootFS"]["Layers"]
        assert layers["RootFS"]["Layers"][: len(old_layers)] == old_layers
        # The independent comparison from the layers: /etc/hosts and /etc/hostname included.
        assert saved_tree_differences(refresh["new"], made) == []
        assert config_differences(refresh["new"], made) == []
        run = sh(["docker", "run", "--rm", "--network", "none", made], ".").stdout
        assert run == "2"
    finally:
        sh(["docker", "image", "rm", "-f", made], ".", check=False)


@pytest.mark.store  # each store's export
def test_verify_of_the_whole_image_says_what_an_export_cannot_show(refresh):
    differs = sh([*CLI, "verify", refresh["old"], refresh["new"], "--path", "/"], ".", check=False)
    assert differs.returncode == 1
    assert "etc/patched-release" in differs.stdout and "usr/share/doc/zlib1g/copyright" in differs.stdout
    same = sh([*CLI, "verify", refresh["new"], refresh["new"]], ".")
    assert "the whole filesystem but what Docker puts in every container" in same.stdout


def test_old_only_in_the_registry_the_whole_image_is_read_in_place(refresh, registry, unique):
    """OLD only in the registry, ``--path /``: NEW is mounted where it is (BuildKit),
    so /etc/hosts and the like are the image's own: the image pushed equals NEW
    from its layers. Read through a container instead (no mounts), Docker's
    stand-ins would be shipped: that run is refused, nothing pushed."""
    address, _ = registry
    old_remote, target = f"{address}/refresh/app:1", f"{address}/refresh/app:2"
    try:
        only_in_registry(refresh["old"], old_remote)
        through_containers = {"DIFFLAYERS_COMPARE": "volumes"}
        for path in ("/", "/etc"):
            optimize = [*CLI, "optimize", old_remote, refresh["new"], "--path", path, "--push", target]
            result = sh(optimize, ".", check=False, env=through_containers)
            assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
            assert "cannot be read through a container" in result.stderr and "/etc/hosts" in result.stderr
        with urllib.request.urlopen(f"http://{address}/v2/refresh/app/tags/list") as answer:
            assert json.load(answer)["tags"] == ["1"]  # nothing pushed

        optimize = [*CLI, "optimize", old_remote, refresh["new"], "--path", "/", "--push", target, "--json"]
        done = json.loads(sh(optimize, ".").stdout)
        assert done["verified"] and done["new_read_from"] == "mounts", done
        assert (done["new"], done["changed"], done["removed"]) == refresh["counts"], done
        assert done["bytes_added"] < 100_000 < 100_000_000 < done["naive_bytes"], done
        sh(["docker", "pull", "-q", target], ".")
        assert saved_tree_differences(refresh["new"], target) == []
        assert config_differences(refresh["new"], target) == []
    finally:
        sh(["docker", "image", "rm", "-f", old_remote, target], ".", check=False)


def test_the_first_revision_of_the_whole_image_gets_its_index_read_in_place(refresh, registry, tmp_path):
    """``--new-if-no-old`` with ``--path /`` on an empty repository: NEW as built
    is pushed and its index is read mounted in place (named, not by its ID), so
    it holds the image's own /etc/hosts; the next revision, from a runner
    without OLD, finds that index and ships the refresh exact."""
    address, _ = registry
    first, second = f"{address}/firstrev/app:1", f"{address}/firstrev/app:2"
    try:
        optimize = [*CLI, "optimize", first, refresh["old"], "--path", "/", "--push", first]
        done = json.loads(sh([*optimize, "--new-if-no-old", "--json"], ".").stdout)
        assert done["method"] == "new-as-built" and done["new_read_from"] == "mounts", done
        sh(["docker", "image", "rm", first], ".")  # a runner without OLD
        dest = tmp_path / "first.jsonl.gz"
        sh([*CLI, "index", first, "--path", "/", "-o", str(dest)], ".")
        with gzip.open(dest) as lines:
            entries = {row[0]: row for row in map(json.loads, list(lines)[1:])}
        stand_ins = {".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf"}
        in_layers = {name.strip("/") for name in saved_tree(refresh["old"])} & stand_ins
        assert len(entries) > 1000 and set(entries) & stand_ins == in_layers, in_layers
        optimize = [*CLI, "optimize", first, refresh["new"], "--path", "/", "--push", second, "--json"]
        done = json.loads(sh(optimize, ".").stdout)
        assert done["verified"] and done["old_tree"] == "registry index", done
        assert done["old_index"]["layer_bytes_read"] == 0 and done["bytes_added"] < 100_000, done
        sh(["docker", "pull", "-q", second], ".")
        assert saved_tree_differences(refresh["new"], second) == []
        assert config_differences(refresh["new"], second) == []
    finally:
        sh(["docker", "image", "rm", "-f", first, second], ".", check=False)


@pytest.mark.store  # in place on each store's snapshots
def test_the_index_of_the_whole_image_holds_the_images_own_files(refresh, tmp_path):
    """``index --path /`` of a local image reads it mounted in place: /etc/hosts
    is the image's file, and none of Docker's stand-ins is in it."""
    dest = tmp_path / "index.jsonl.gz"
    indexed = sh([*CLI, "index", refresh["new"], "--path", "/", "-o", str(dest), "--json"], ".")
    done = json.loads(indexed.stdout)
    with gzip.open(dest) as lines:
        rows = [json.loads(line) for line in lines][1:]
    entries = {row[0]: row for row in rows}
    assert done["entries"] == len(entries) > 1000
    hosts = entries["etc/hosts"]
    assert hosts[1] == "f" and hosts[7] == "sha256:" + hashlib.sha256(WRITTEN["etc/hosts"]).hexdigest()
    assert ".dockerenv" not in entries and entries["etc/hostname"][5] == len(WRITTEN["etc/hostname"])


@pytest.mark.store  # containerd's store only
def test_the_init_layer_a_legacy_build_leaves_on_containerd_is_refused_not_shipped(
    registry, tmp_path, unique, image_store
):
    """The legacy builder's ``RUN`` on containerd's store leaves Docker's init
    layer (/.dockerenv, empty /etc/hosts and the like) in the image's tree
    mounted in place, not in its layers: shipped, the image pushed would hold
    Docker's files, and the check against that same tree would not see it. It
    is refused there (exit 2, nothing pushed); on the classic store the tree is
    the layers', and the run ships and equals NEW."""
    address, _ = registry
    tags = {n: f"{unique}:{n}" for n in (1, 2)}
    for n, tag in tags.items():
        (tmp_path / str(n)).mkdir()
        dockerfile = f"FROM {BASE}\nRUN mkdir -p /app && echo {n} > /app/version\n"
        (tmp_path / str(n) / "Dockerfile").write_text(dockerfile)
        sh(["docker", "build", "-q", "-t", tag, "."], tmp_path / str(n), env={"DOCKER_BUILDKIT": "0"})
    old_remote, target = f"{address}/legacy/app:1", f"{address}/legacy/app:2"
    try:
        only_in_registry(tags[1], old_remote)
        optimize = [*CLI, "optimize", old_remote, tags[2], "--path", "/", "--push", target]
        result = sh(optimize, ".", check=False)
        if image_store == "containerd":
            assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
            assert "holds Docker's init layer at /.dockerenv" in result.stderr, result.stderr
            with urllib.request.urlopen(f"http://{address}/v2/legacy/app/tags/list") as answer:
                assert json.load(answer)["tags"] == ["1"]  # nothing pushed
        else:
            assert result.returncode == 0, result.stderr
            sh(["docker", "pull", "-q", target], ".")
            assert saved_tree_differences(tags[2], target) == []
    finally:
        sh(["docker", "image", "rm", "-f", *tags.values(), target], ".", check=False)
