"""The layer method's pure parts: config, history, load archive, references."""

import hashlib
import json
import tarfile

import pytest

from difflayers.adapters.registry import is_loopback
from difflayers.archives.loadarchive import write_load_archive, write_oci_archive
from difflayers.core.imageconfig import config_bytes, history_from_engine, processed_config
from difflayers.core.reference import Reference, full_name, parse_reference
from difflayers.errors import BadInput
from difflayers.methods.push import compress

NEW = {
    "Architecture": "amd64",
    "Os": "linux",
    "Created": "2026-11-29T10:00:00.123456789Z",
    "Config": {"Env": ["KEEP=yes"], "ExposedPorts": {"8080/tcp": {}}, "Cmd": ["serve"]},
}


def engine_history(*entries):
    """The engine's history endpoint: newest first."""
    return [{"Created": 0, "CreatedBy": by, "Size": size, "Comment": ""} for by, size in reversed(entries)]


def test_history_marks_layers_by_size_and_by_instruction():
    entries = engine_history(
        ("", 100),  # docker import
        ("/bin/sh -c #(nop)  ENV A=1", 0),
        ("/bin/sh -c #(nop) COPY dir:abc in /app ", 0),  # an empty COPY still makes a layer
        ("RUN /bin/sh -c true # buildkit", 0),
        ("EXPOSE map[80/tcp:{}]", 0),
    )
    history = history_from_engine(entries, layer_count=3)
    assert [bool(item.get("empty_layer")) for item in history] == [False, True, False, False, True]
    assert history[0]["created"] == "1970-01-01T00:00:00Z"


def test_history_that_does_not_add_up_is_replaced_by_one_entry_per_layer():
    history = history_from_engine(engine_history(("", 100), ("/bin/sh -c #(nop)  CMD x", 0)), layer_count=2)
    assert len(history) == 2 and not any(item.get("empty_layer") for item in history)


def test_config_is_news_on_olds_layers_plus_one():
    old_history = [{"created_by": "base"}]
    config = processed_config(NEW, old_history, ["sha256:" + "a" * 64], "sha256:" + "b" * 64, "delta")
    assert config["config"] == NEW["Config"]
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]}
    assert [item["created_by"] for item in config["history"]] == ["base", "delta"]
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    unchanged_tree = processed_config(NEW, old_history, ["sha256:" + "a" * 64], None, "delta")
    assert (
        unchanged_tree["rootfs"]["diff_ids"] == ["sha256:" + "a" * 64] and len(unchanged_tree["history"]) == 1
    )
    assert json.loads(config_bytes(config)) == config


def test_load_archive_holds_the_config_the_manifest_and_only_the_new_layer(tmp_path):
    layer = tmp_path / "layer.tar"
    layer.write_bytes(b"x" * 1024)
    diff_ids = ["sha256:" + "a" * 64, "sha256:" + hashlib.sha256(b"x" * 1024).hexdigest()]
    config = b'{"config":{}}'
    image_id = write_load_archive(
        tmp_path / "load.tar", config=config, layer=layer, diff_ids=diff_ids, tag="t:1"
    )
    assert image_id == "sha256:" + hashlib.sha256(config).hexdigest()
    with tarfile.open(tmp_path / "load.tar") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    layer_paths = [d.split(":")[1] + "/layer.tar" for d in diff_ids]
    assert manifest == [
        {"Config": image_id.split(":")[1] + ".json", "RepoTags": ["t:1"], "Layers": layer_paths}
    ]
    assert sorted(names) == sorted([image_id.split(":")[1] + ".json", layer_paths[1], "manifest.json"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1:5000/app:2", Reference("127.0.0.1:5000", "app", "2")),
        ("localhost/team/app", Reference("localhost", "team/app")),
        (
            "reg.example.com/a/b@sha256:" + "c" * 64,
            Reference("reg.example.com", "a/b", "", "sha256:" + "c" * 64),
        ),
        ("[::1]:5000/app:v1", Reference("[::1]:5000", "app", "v1")),
    ],
)
def test_references_that_name_a_registry(text, expected):
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("app", Reference("docker.io", "library/app")),
        ("app:2", Reference("docker.io", "library/app", "2")),
        ("user/app", Reference("docker.io", "user/app")),
        ("docker.io/user/app:1", Reference("docker.io", "user/app", "1")),
        ("index.docker.io/library/app", Reference("docker.io", "library/app")),
        ("user/app@sha256:" + "d" * 64, Reference("docker.io", "user/app", "", "sha256:" + "d" * 64)),
    ],
)
def test_docker_hub_names_as_users_write_them(text, expected):
    assert parse_reference(text) == expected
    assert parse_reference(text).api_host == "registry-1.docker.io"


@pytest.mark.parametrize("text", ["127.0.0.1:5000/", "reg.io/App:1", "app@sha256:abc", "app:"])
def test_bad_names_are_refused(text):
    with pytest.raises(BadInput):
        parse_reference(text)


def test_loopback_registries_may_fall_back_to_plain_http_others_not():
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost:5000") and is_loopback("[::1]:5000")
    assert not is_loopback("registry.example.com") and not is_loopback("10.0.0.1:5000")


def test_compression_is_reproducible(tmp_path):
    layer = tmp_path / "layer.tar"
    layer.write_bytes(bytes(range(256)) * 100)
    first, second = compress(layer, tmp_path / "a.gz"), compress(layer, tmp_path / "b.gz")
    assert first.digest == second.digest and first.size == second.size
    assert first.digest == "sha256:" + hashlib.sha256((tmp_path / "a.gz").read_bytes()).hexdigest()


def test_oci_archive_lists_olds_layers_as_old_did_and_carries_only_the_new_one(tmp_path):
    layer = tmp_path / "layer.tar"
    layer.write_bytes(b"y" * 2048)
    old_layers = [
        {
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "digest": "sha256:" + "b" * 64,
            "size": 7,
        }
    ]
    config = b'{"config":{}}'
    manifest_type = "application/vnd.docker.distribution.manifest.v2+json"
    digest = write_oci_archive(
        tmp_path / "oci.tar",
        config=config,
        layer=layer,
        base_layers=old_layers,
        manifest_type=manifest_type,
        name="docker.io/library/t:1",
    )
    with tarfile.open(tmp_path / "oci.tar") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}
    index = json.loads(files["index.json"])
    assert index["manifests"][0]["digest"] == digest
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/library/t:1"
    manifest_bytes = files["blobs/sha256/" + digest.split(":")[1]]
    assert "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() == digest
    manifest = json.loads(manifest_bytes)
    assert manifest["mediaType"] == manifest_type
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]] == config
    new_digest = "sha256:" + hashlib.sha256(b"y" * 2048).hexdigest()
    assert manifest["layers"] == [
        *old_layers,
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "digest": new_digest, "size": 2048},
    ]
    # OLD's blob is named, never carried.
    assert sorted(files) == sorted(
        [
            "oci-layout",
            "index.json",
            *("blobs/sha256/" + d.split(":")[1] for d in (digest, manifest["config"]["digest"], new_digest)),
        ]
    )


@pytest.mark.parametrize(
    "reference, name",
    [
        ("app", "docker.io/library/app:latest"),
        ("app:2", "docker.io/library/app:2"),
        ("user/app:1", "docker.io/user/app:1"),
        ("127.0.0.1:5000/ns/app:3", "127.0.0.1:5000/ns/app:3"),
        ("localhost/app", "localhost/app:latest"),
        ("difflayers-unverified:h1-2-3-ab", "docker.io/library/difflayers-unverified:h1-2-3-ab"),
    ],
)
def test_full_names_as_containerd_keeps_them(reference, name):
    assert full_name(reference) == name


def test_an_old_config_without_history_gets_none_for_the_delta_either():
    """History and created are optional (OCI); an OLD written without them (ko,
    rules_oci, hand-made) must not get one history entry for several layers."""
    new = {"Architecture": "amd64", "Os": "linux", "Config": {"Cmd": ["/app/run"]}}
    bare = processed_config(new, None, ["sha256:" + "a" * 64], "sha256:" + "b" * 64, "difflayers")
    assert "history" not in bare and "created" not in bare and len(bare["rootfs"]["diff_ids"]) == 2
    dated = {**new, "Created": "2026-12-06T00:00:00Z"}
    kept = processed_config(
        dated, [{"created_by": "COPY"}], ["sha256:" + "a" * 64], "sha256:" + "b" * 64, "d"
    )
    assert [h.get("comment") for h in kept["history"]] == [None, "difflayers delta layer"]
    assert kept["created"] == "2026-12-06T00:00:00Z"


class _Podman:
    """What ``assemble.load`` asks of the engine: Podman, loading what it is given."""

    is_podman, store = True, "classic"

    def __init__(self):
        self.loaded = None

    def load(self, archive, what):
        with tarfile.open(archive) as tar:
            self.loaded = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}

    def inspect_image(self, tag):
        """Podman names an image by its config's digest."""
        index = json.loads(self.loaded["index.json"])
        manifest = json.loads(self.loaded["blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]])
        return {"Id": manifest["config"]["digest"]}


def test_podman_gets_an_oci_layout_naming_olds_layers_by_diff_id_without_them(tmp_path):
    from difflayers.methods.assemble import load

    layer = tmp_path / "layer.tar"
    layer.write_bytes(b"z" * 1024)
    config = b'{"rootfs":{}}'
    engine = _Podman()
    old_ids = ["sha256:" + "c" * 64, "sha256:" + "d" * 64]
    new_id = "sha256:" + hashlib.sha256(b"z" * 1024).hexdigest()
    image_id = load(engine, tmp_path, config, layer, [*old_ids, new_id], None, "app:2")
    # Podman's image ID is the config's digest, as on moby's classic store.
    assert image_id == "sha256:" + hashlib.sha256(config).hexdigest()
    index = json.loads(engine.loaded["index.json"])
    assert (
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "docker.io/library/app:2"
    )
    manifest = json.loads(engine.loaded["blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]])
    assert [(d["mediaType"], d["digest"]) for d in manifest["layers"]] == [
        ("application/vnd.oci.image.layer.v1.tar", digest) for digest in [*old_ids, new_id]
    ]
    # OLD's layers are named, never carried: the storage has them by that digest.
    assert not any(name.endswith(("c" * 64, "d" * 64)) for name in engine.loaded)
    assert "blobs/sha256/" + new_id.split(":")[1] in engine.loaded
