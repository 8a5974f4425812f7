"""Registries as they answer where the kit is new (referrers, mounts), emulated by
the fault proxy in front of a real registry (``dialects``): the referrers API,
GHCR's referrers endpoint (a 303 to an API that answers 404, or 429 when
rate-limited), Harbor's 401 to a mount it will not make, GitLab's tags spelt
like digests. The kit's registry client against them; no engine needed."""

import gzip
import hashlib
import io
import json
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from difflayers.adapters.registry import Registry
from difflayers.core import treeindex
from difflayers.core.mediatypes import CONFIG_TYPE, LAYER_TYPE, OCI_INDEX, OCI_MANIFEST
from difflayers.core.treeindex import Entry
from difflayers.errors import RegistryError
from difflayers.methods import indexartifact, multiplatform
from difflayers.methods.push import carry_blobs
from difflayers.pipeline import Options

from . import dialects, registries


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def dialect(tmp_path, tools_on_path):
    """A registry behind the fault proxy (plain HTTP on loopback), and the kit's client of it."""
    server = registries.RegistryServer(tmp_path)
    proxy = registries.FaultProxy(server.port)
    try:
        yield proxy, Registry(proxy.address)
    finally:
        proxy.stop()
        server.stop()


def push_image(registry: Registry, repository: str, tag: str, text: str = "") -> dict:
    """A one-layer image put by the client itself: its manifest's descriptor."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("app/a.txt")
        data = (text or repository).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(buffer.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    for blob in (layer, config):
        registry.upload(repository, _digest(blob), blob, len(blob))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _digest(layer),
                "size": len(layer),
            }
        ],
    }
    body = json.dumps(manifest).encode()
    registry.put_manifest(repository, tag, OCI_MANIFEST, body)
    return {
        "mediaType": OCI_MANIFEST,
        "digest": _digest(body),
        "size": len(body),
        "layers": manifest["layers"],
    }


def an_index() -> bytes:
    digest = "sha256:" + "ab" * 32
    entries = [Entry(".", "d", 0o755, 0, 0), Entry("a.txt", "f", 0o644, 0, 0, size=8, digest=digest)]
    return treeindex.to_bytes("/app", entries)


def referrers_asked(proxy) -> int:
    return sum(count for kind, count in proxy.seen.items() if "/referrers/" in kind)


@pytest.mark.parametrize(
    "answers",
    [
        # GHCR rate-limited: 429 every time (the tag schema serves; retrying would only wait).
        {("GET", "/referrers/"): (429, {"Retry-After": "30"})},
        # GHCR: a 303 to GitHub's API, which answers 404 for a container's referrers.
        {
            ("GET", "/referrers/"): (303, {"Location": "/github-api/referrers"}),
            ("GET", "/github-api/"): (404, {}),
        },
        # Forbidden to this login: another registry's way of having none to give.
        {("GET", "/referrers/"): (403, {})},
        # GAR, once: a redirect to a login page (200, but no index).
        {
            ("GET", "/referrers/"): (302, {"Location": "/login"}),
            ("GET", "/login"): (200, {"Content-Type": "text/html"}),
        },
    ],
    ids=["429", "303-then-404", "403", "login-page"],
)
def test_an_index_is_kept_under_the_tag_schema_where_referrers_cannot_be_listed(dialect, answers):
    proxy, registry = dialect
    subject = push_image(registry, "team/app", "1")
    proxy.answers = answers
    descriptor = {k: subject[k] for k in ("mediaType", "digest", "size")}
    attached = indexartifact.attach(registry, "team/app", descriptor, an_index(), "/app")
    found = indexartifact.find(registry, "team/app", subject["digest"], "/app")
    assert found is not None and treeindex.load(found, "/app") == treeindex.load(an_index(), "/app")
    # Kept under the referrers tag, and the endpoint asked once per look-up, not retried.
    listed = registry.manifest("team/app", indexartifact.referrers_tag(subject["digest"]), missing_ok=True)
    assert attached["digest"] in listed[1].decode()
    assert referrers_asked(proxy) == 2


def test_a_short_retry_after_on_the_referrers_api_is_waited_for_a_few_times(dialect):
    """429 with Retry-After: 1 (a rate limit about to lift): asked three times,
    one second apart, then the tag schema; a long one is not waited for (above)."""
    proxy, registry = dialect
    subject = push_image(registry, "team/app", "1")
    proxy.answers = {("GET", "/referrers/"): (429, {"Retry-After": "1"})}
    begun = time.monotonic()
    assert registry.referrers("team/app", subject["digest"], "x") is None
    assert referrers_asked(proxy) == 3 and 2.0 <= time.monotonic() - begun < 10


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_mount_refused_outright_is_an_upload_counted_as_copied(dialect, status):
    proxy, registry = dialect
    subject = push_image(registry, "team/old", "1")
    proxy.answers = {("POST", "mount="): (status, {})}  # Harbor: the login may not read the source
    mounted, copied, copied_bytes = carry_blobs(registry, "other/new", "team/old", subject["layers"])
    assert (mounted, copied) == (0, 1) and copied_bytes == subject["layers"][0]["size"]
    assert registry.has_blob("other/new", subject["layers"][0]["digest"])
    proxy.answers = {}
    assert carry_blobs(registry, "other/newer", "team/old", subject["layers"]) == (1, 0, 0)  # mounted


def test_two_writers_of_the_referrers_tag_at_once_keep_both_entries(dialect):
    """Two indexes of one image (two paths) attached at once, the registry a
    second slow to write the referrers list's tag: both stay listed, and a
    referrer of another tool's (a signature) too."""
    proxy, registry = dialect
    subject = push_image(registry, "team/app", "1")
    descriptor = {k: subject[k] for k in ("mediaType", "digest", "size")}
    tag = indexartifact.referrers_tag(subject["digest"])
    other = push_image(registry, "team/app", "signature")  # stands for another tool's referrer
    signature = {**{k: other[k] for k in ("mediaType", "digest", "size")}, "artifactType": "signature"}
    listing = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [signature]}
    registry.put_manifest("team/app", tag, OCI_INDEX, json.dumps(listing).encode())
    proxy.delays = {("PUT", "/manifests/sha256-"): 1.0}
    paths = ["/app", "/srv"]

    def attach(path):
        return indexartifact.attach(Registry(proxy.address), "team/app", descriptor, an_index_of(path), path)

    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(attach, paths))
    listed = json.loads(registry.manifest("team/app", tag)[1])["manifests"]
    assert {entry["digest"] for entry in listed} == {signature["digest"], *(d["digest"] for d in done)}
    for path in paths:
        assert indexartifact.find(registry, "team/app", subject["digest"], path) is not None


def an_index_of(path: str) -> bytes:
    digest = "sha256:" + "cd" * 32
    return treeindex.to_bytes(
        path, [Entry(".", "d", 0o755, 0, 0), Entry("x", "f", 0o644, 0, 0, size=1, digest=digest)]
    )


def test_a_registry_that_reads_a_digest_tag_as_the_digest_still_finds_the_index(dialect):
    """GitLab reads the tag ``sha256-<hex>`` as the manifest of that digest: the
    list the tag schema writes there never reads back (OLD's index was built from
    its layers on every run). The kit keeps its list under a tag of its own then."""
    proxy, registry = dialect
    subject = push_image(registry, "team/app", "1")
    proxy.digest_tags = True
    descriptor = {k: subject[k] for k in ("mediaType", "digest", "size")}
    assert (
        registry.manifest("team/app", indexartifact.referrers_tag(subject["digest"]))[2] == subject["digest"]
    )
    indexartifact.attach(registry, "team/app", descriptor, an_index(), "/app")
    found = indexartifact.find(registry, "team/app", subject["digest"], "/app")
    assert found is not None and treeindex.load(found, "/app") == treeindex.load(an_index(), "/app")
    again = indexartifact.attach(registry, "team/app", descriptor, an_index_of("/app"), "/app")  # replaced
    assert indexartifact.listed(registry, "team/app", subject["digest"], "/app").digest == again["digest"]


def many_entries(count: int, changed: int | None = None) -> list:
    """A tree of ``count`` files with random digests (an index that does not
    compress away), file ``changed`` given another digest."""
    entries = [Entry(".", "d", 0o755, 0, 0)]
    for i in range(count):
        seed = f"{i}-{'changed' if i == changed else ''}".encode()
        digest = "sha256:" + hashlib.sha256(seed).hexdigest()
        entries.append(Entry(f"f{i:05}", "f", 0o644, 0, 0, size=i, digest=digest))
    return entries


def tags_of(proxy, repository: str) -> list:
    import urllib.request

    with urllib.request.urlopen(f"http://{proxy.address}/v2/{repository}/tags/list") as answer:
        return json.load(answer).get("tags") or []


@pytest.mark.parametrize("name", sorted(dialects.DIALECTS))
def test_each_registry_keeps_the_index_and_its_delta_where_they_are_found_again(dialect, name):
    """OLD's index attached to OLD; NEW (another repository) gets its index as a
    delta over OLD's, whose blob is mounted or, where the registry will not,
    copied and counted. A second client finds both; the referrers list is where
    that registry keeps it: its own API (no ``sha256-`` tag left), else the tag
    schema (GitLab: the kit's tag beside it)."""
    proxy, registry = dialect
    dialects.apply(proxy, name)
    old = push_image(registry, "team/app", "1", "old")
    new = push_image(registry, "other/app", "2", "new")
    descriptor = {k: old[k] for k in ("mediaType", "digest", "size")}
    old_index = treeindex.to_bytes("/app", many_entries(2000))
    indexartifact.attach(registry, "team/app", descriptor, old_index, "/app")
    reader = Registry(proxy.address)
    base = indexartifact.find_artifact(reader, "team/app", old["digest"], "/app")
    assert treeindex.load(base.data, "/app") == treeindex.load(old_index, "/app")

    new_index = treeindex.to_bytes("/app", many_entries(2000, changed=7))
    descriptor = {k: new[k] for k in ("mediaType", "digest", "size")}
    done = indexartifact.attach(registry, "other/app", descriptor, new_index, "/app", base=base)
    base_size = base.parts[0]["size"]
    assert done["parts"] == 2 and base_size > 40_000
    if name in dialects.MOUNTS_REFUSED:
        assert done["bytes_sent"] > base_size  # copied, and said
    else:
        assert done["bytes_sent"] < base_size / 4  # mounted: the delta, the manifest, the list
    found = indexartifact.find_artifact(Registry(proxy.address), "other/app", new["digest"], "/app")
    assert treeindex.load(found.data, "/app") == treeindex.load(new_index, "/app")

    schema_tags = [tag for tag in tags_of(proxy, "other/app") if tag.startswith("sha256-")]
    if name in dialects.REFERRERS_API:
        assert schema_tags == [] and len(proxy.referrers) == 2  # listed by the registry itself
    elif name == "gitlab":
        assert schema_tags == [indexartifact.referrers_tag(new["digest"]) + indexartifact.ALIASED_SUFFIX]
    else:
        assert schema_tags == [indexartifact.referrers_tag(new["digest"])]


def test_a_manifest_larger_than_registries_serve_is_refused_before_it_is_sent(dialect):
    """Some registries refuse manifests above 4 MB; distribution 3 takes them and
    then cannot serve them (distribution#4636): the kit puts none."""
    proxy, registry = dialect
    subject = push_image(registry, "team/app", "1")
    many = [{**{k: subject[k] for k in ("mediaType", "digest", "size")}, "annotations": {"n": str(i)}}
            for i in range(40_000)]  # fmt: skip
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": many}).encode()
    assert len(body) > 4 << 20
    proxy.seen.clear()
    with pytest.raises(RegistryError, match="nothing was put"):
        registry.put_manifest("team/app", "big", OCI_INDEX, body)
    assert "PUT /manifests/" not in proxy.seen
    assert registry.manifest("team/app", "big", missing_ok=True) is None


def _layer(files: dict) -> tuple:
    """(gzip'ed layer, its diff_id): a tar of ``files`` (name -> bytes; None: a directory)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0), _digest(raw)


def push_platforms(registry: Registry, repository: str, tag: str, apps: dict) -> None:
    """A multi-platform image put by the client: per architecture a base layer
    (the same for every revision) and an /app layer of ``apps[arch]``."""
    entries = []
    for arch, app in apps.items():
        layers = [_layer({"etc": None, "etc/base.conf": f"base {arch}\n".encode()})]
        layers.append(_layer({"app": None, **{f"app/{name}": data for name, data in app.items()}}))
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": ["/app/a.txt"]},
                "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in layers]},
            }
        ).encode()
        for blob in [config] + [blob for blob, _ in layers]:
            registry.upload(repository, _digest(blob), blob, len(blob))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": CONFIG_TYPE[OCI_MANIFEST],
                    "digest": _digest(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": LAYER_TYPE[OCI_MANIFEST], "digest": _digest(blob), "size": len(blob)}
                    for blob, _ in layers
                ],
            }
        ).encode()
        registry.put_manifest(repository, _digest(manifest), OCI_MANIFEST, manifest)
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": _digest(manifest),
                "size": len(manifest),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    top = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    registry.put_manifest(repository, tag, OCI_INDEX, top)


def tree_of(registry: Registry, repository: str, manifest_digest: str) -> dict:
    """The files of an image as its layers give them (whiteouts applied), written
    here apart from the kit: name -> (type, mode, bytes)."""
    tree: dict = {}
    manifest = json.loads(registry.manifest(repository, manifest_digest)[1])
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(registry.blob(repository, layer["digest"])), mode="r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./").rstrip("/")
                folder, _, base = name.rpartition("/")
                if base == ".wh..wh..opq":
                    tree = {k: v for k, v in tree.items() if not k.startswith(folder + "/")}
                elif base.startswith(".wh."):
                    gone = f"{folder}/{base[4:]}".lstrip("/")
                    tree = {k: v for k, v in tree.items() if k != gone and not k.startswith(gone + "/")}
                else:
                    data = tar.extractfile(member).read() if member.isreg() else b""
                    tree[name] = (member.type, member.mode & 0o7777, data)
    return tree


def platform_manifests(registry: Registry, repository: str, tag: str) -> dict:
    top = json.loads(registry.manifest(repository, tag)[1])
    return {entry["platform"]["architecture"]: entry["digest"] for entry in top["manifests"]}


@pytest.mark.parametrize("name", sorted(dialects.DIALECTS))
def test_each_registry_takes_a_delta_per_platform(dialect, name, tmp_path):
    """A multi-platform OLD and NEW in the registry (NEW changes a file, adds one,
    removes one on each platform): ``optimize`` pushes OLD + a delta per
    platform to another repository. Each platform's tree, read back from its
    layers here, equals NEW's; OLD's layers were mounted or, where the registry
    will not, copied and counted."""
    proxy, registry = dialect
    dialects.apply(proxy, name)
    old = {arch: {"a.txt": f"1 {arch}\n".encode(), "gone.txt": b"x\n"} for arch in ("amd64", "arm64")}
    new = {arch: {"a.txt": f"2 {arch}\n".encode(), "new.txt": b"y\n"} for arch in ("amd64", "arm64")}
    push_platforms(registry, "team/app", "1", old)
    push_platforms(registry, "team/app", "2-staging", new)
    target = f"{proxy.address}/other/app:2"
    options = Options(push_to=target)
    summary = multiplatform.optimize(
        f"{proxy.address}/team/app:1", f"{proxy.address}/team/app:2-staging", "/app", tmp_path, options,
        lambda line: None,
    )  # fmt: skip
    assert summary["verified"] and {f["method"] for f in summary["platforms"]} == {"layer"}
    copied = [f["layers_copied"] for f in summary["platforms"]]
    if name in dialects.MOUNTS_REFUSED:  # OLD's two layers per platform, said and counted
        assert copied == [2, 2] and summary["bytes_copied"] > 0
    else:
        assert copied == [0, 0] and summary["bytes_copied"] == 0
    made = platform_manifests(registry, "other/app", "2")
    wanted = platform_manifests(registry, "team/app", "2-staging")
    assert set(made) == {"amd64", "arm64"}
    for arch in made:
        assert tree_of(registry, "other/app", made[arch]) == tree_of(registry, "team/app", wanted[arch]), arch
