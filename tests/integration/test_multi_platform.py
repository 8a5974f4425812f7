"""Multi-platform images: `optimize REG/app:1 REG/app:2-staging --push REG/app:2`
where both are indexes in Debian's docker-registry on loopback.

The images are made here without emulation: `FROM scratch`, files only, built
with `--platform` for amd64, arm64 and two more, pushed one platform at a
time by the engine and combined into indexes with the registry's HTTP API
(written here, not the kit's). OLD has amd64, arm64 and s390x; NEW has amd64,
arm64 and riscv64: two deltas, one platform published as built, one dropped.
Each platform of the result is pulled back with `docker pull --platform` and
compared with NEW's by the independent comparison; bytes uploaded per platform
are the growth of the registry's blob storage.
"""

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from . import registries
from .conftest import _buildkit_docker, sh
from .independent import CHAIN_LABEL_PREFIX, exported_tree, tree_differences

pytestmark = [pytest.mark.engine, pytest.mark.store]
CLI = [sys.executable, "-m", "difflayers"]
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
BOTH, NEW_ONLY, OLD_ONLY = ("amd64", "arm64"), "riscv64", "s390x"
FILES = 24  # of 32 KiB per platform


def _request(method: str, url: str, body: bytes = b"", content_type: str = "") -> bytes:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def put_index(address: str, repository: str, tag: str, entries: list, annotations=None) -> str:
    """An OCI index of ``entries`` ((platform dict, manifest bytes, media type)) under ``tag``."""
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": media_type,
                "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                "size": len(body),
                "platform": platform,
                "annotations": {"org.example.platform-note": platform["architecture"]},
            }
            for platform, body, media_type in entries
        ],
        "annotations": annotations or {},
    }
    body = json.dumps(index).encode()
    _request("PUT", f"http://{address}/v2/{repository}/manifests/{tag}", body, OCI_INDEX)
    return "sha256:" + hashlib.sha256(body).hexdigest()


def pushed_manifest(address: str, repository: str, tag: str) -> tuple:
    body = registries.manifest(address, repository, tag, raw=True)
    return body, json.loads(body)["mediaType"]


def blob_sizes(storage: Path) -> dict:
    """digest -> size of every blob the registry stores (its files, not its API)."""
    blobs = storage / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return {
        "sha256:" + data.parent.name: data.stat().st_size for data in blobs.glob("*/*/data") if data.is_file()
    }


@pytest.fixture(scope="module")
def platforms_built(tmp_path_factory, unique_module):
    """Local images per platform: a base (files outside /app) and revisions 1 and 2 of /app."""
    cli = _buildkit_docker()
    if cli is None:
        pytest.fail("no BuildKit-capable docker CLI")
    tmp = tmp_path_factory.mktemp("platforms")
    prefix = f"difflayers-test-mp-{unique_module}"
    env = {"DOCKER_BUILDKIT": "1"}
    tags = {}

    def build(context: Path, tag: str, arch: str, *args):
        sh([cli, "build", "-q", "--platform", f"linux/{arch}", *args, "-t", tag, "."], context, env=env)
        tags[(arch, tag)] = tag

    for arch in (*BOTH, NEW_ONLY, OLD_ONLY):
        base = tmp / f"base-{arch}"
        (base / "etc").mkdir(parents=True)
        (base / "etc" / "arch").write_text(f"{arch}\n")
        (base / "Dockerfile").write_text("FROM scratch\nCOPY etc /etc\n")
        build(base, f"{prefix}:base-{arch}", arch)
        app = tmp / f"app-{arch}"
        (app / "app" / "data").mkdir(parents=True)
        for i in range(FILES):
            (app / "app" / "data" / f"f{i:02}.bin").write_bytes(os.urandom(32 << 10))
        (app / "app" / "main.txt").write_text(f"revision 1 on {arch}\n")
        (app / "app" / "gone.txt").write_text("removed in revision 2\n")
        (app / "Dockerfile").write_text(
            f'FROM {prefix}:base-{arch}\nCOPY app /app\nCMD ["/app/main.txt"]\nLABEL arch={arch}\n'
        )
        if arch != NEW_ONLY:
            build(app, f"{prefix}:1-{arch}", arch)
        (app / "app" / "main.txt").write_text(f"revision 2 on {arch}\n")
        (app / "app" / "gone.txt").unlink()
        (app / "app" / "new.txt").write_text("added in revision 2\n")
        (app / "app" / "data" / "f03.bin").write_bytes(os.urandom(32 << 10))
        (app / "app" / "link").symlink_to("main.txt")
        if arch != OLD_ONLY:
            build(app, f"{prefix}:2-{arch}", arch)
    yield prefix
    names = [f"{prefix}:{kind}-{arch}" for arch in (*BOTH, NEW_ONLY, OLD_ONLY) for kind in ("base", "1", "2")]
    subprocess.run(["docker", "image", "rm", "-f", *names], capture_output=True, check=False)


def push_platforms(address: str, prefix: str, revision: str, archs, repository: str) -> list:
    """Each platform pushed by the engine to its own tag: (platform, manifest bytes, type)."""
    entries = []
    for arch in archs:
        remote = f"{address}/{repository}:{revision}-{arch}"
        sh(["docker", "tag", f"{prefix}:{revision}-{arch}", remote], ".")
        sh(["docker", "push", remote], ".")
        sh(["docker", "image", "rm", remote], ".")
        body, media_type = pushed_manifest(address, repository, f"{revision}-{arch}")
        entries.append(({"os": "linux", "architecture": arch}, body, media_type))
    return entries


def run(*args, env=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, check=False)


def optimize(address: str, repository: str, old: str, new: str, target: str, *extra):
    """``optimize`` of OLD and NEW at those tags of ``repository``, pushed to ``target``."""
    return run(
        "optimize",
        f"{address}/{repository}:{old}",
        f"{address}/{repository}:{new}",
        "--path",
        "/app",
        "--push",
        f"{address}/{repository}:{target}",
        *extra,
    )


def pulled_tree_differences(address: str, repository: str, staging: str, pushed: str, arch: str) -> list:
    """Both references pulled for ``arch`` and compared by the independent comparison."""
    platform = f"linux/{arch}"
    for tag in (staging, pushed):
        sh(["docker", "pull", "-q", "--platform", platform, f"{address}/{repository}:{tag}"], ".")
    try:
        # The platform's own image was pulled: its /etc/arch names it.
        tree = exported_tree(f"{address}/{repository}:{pushed}", platform=platform)
        assert tree["etc/arch"][4] == hashlib.sha256(f"{arch}\n".encode()).hexdigest(), arch
        assert "app/new.txt" in tree and "app/gone.txt" not in tree
        return tree_differences(
            f"{address}/{repository}:{staging}", f"{address}/{repository}:{pushed}", platform=platform
        )
    finally:
        for tag in (staging, pushed):
            subprocess.run(["docker", "image", "rm", f"{address}/{repository}:{tag}"], capture_output=True)


def config_of(address: str, repository: str, manifest_digest: str) -> dict:
    manifest = registries.manifest(address, repository, manifest_digest)
    digest = manifest["config"]["digest"]
    return json.loads(_request("GET", f"http://{address}/v2/{repository}/blobs/{digest}"))


def test_two_platforms_get_deltas_one_is_new_one_is_dropped(platforms_built, registry, image_store):
    address, storage = registry
    prefix, repository = platforms_built, "mp/app"
    old_entries = push_platforms(address, prefix, "1", (*BOTH, OLD_ONLY), repository)
    put_index(address, repository, "1", old_entries)
    new_entries = push_platforms(address, prefix, "2", (*BOTH, NEW_ONLY), repository)
    put_index(address, repository, "2-staging", new_entries, {"org.opencontainers.image.revision": "2"})
    before = blob_sizes(storage)

    result = optimize(address, repository, "1", "2-staging", "2", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    schemas = Path(__file__).resolve().parents[2] / "docs" / "schemas"
    jsonschema.validate(summary, json.loads((schemas / "optimize.schema.json").read_text()))
    by_platform = {f["platform"]: f for f in summary["platforms"]}
    for f in summary["platforms"]:  # shown with -s: the README's figures come from such a run
        print(f["platform"], f["method"], f["bytes_added"], f["bytes_uploaded"], f["naive_upload_bytes"])
    assert set(by_platform) == {"linux/amd64", "linux/arm64", f"linux/{NEW_ONLY}"}
    assert summary["dropped"] == [f"linux/{OLD_ONLY}"]
    for arch in BOTH:
        figures = by_platform[f"linux/{arch}"]
        assert figures["method"] == "layer" and figures["verified"]
        assert (figures["new"], figures["changed"], figures["removed"]) == (
            2,
            2,
            1,
        )  # new.txt, link; f03, main
    assert by_platform[f"linux/{NEW_ONLY}"]["method"] == "new-as-built"
    assert summary["bytes_uploaded"] < 0.1 * summary["naive_upload_bytes"]

    # The index: NEW's annotations and platform fields, the processed manifests.
    index = registries.manifest(address, repository, "2")
    staging = registries.manifest(address, repository, "2-staging")
    assert index["mediaType"] == OCI_INDEX and index["annotations"] == staging["annotations"]
    assert [(e["platform"], e["annotations"]) for e in index["manifests"]] == [
        (e["platform"], e["annotations"]) for e in staging["manifests"]
    ]
    digests = {e["platform"]["architecture"]: e["digest"] for e in index["manifests"]}
    staged = {e["platform"]["architecture"]: e["digest"] for e in staging["manifests"]}
    assert digests[NEW_ONLY] == staged[NEW_ONLY]  # as built
    old_index = registries.manifest(address, repository, "1")
    old_digests = {e["platform"]["architecture"]: e["digest"] for e in old_index["manifests"]}

    # Bytes per platform, from the registry's storage: each delta's new blobs are small.
    grown = {digest: size for digest, size in blob_sizes(storage).items() if digest not in before}
    for arch in BOTH:
        processed = registries.manifest(address, repository, digests[arch])
        old = registries.manifest(address, repository, old_digests[arch])
        assert [layer["digest"] for layer in processed["layers"][:-1]] == [d["digest"] for d in old["layers"]]
        new_blobs = [d["digest"] for d in (*processed["layers"], processed["config"]) if d["digest"] in grown]
        uploaded = sum(grown[d] for d in new_blobs)
        app_layer = registries.manifest(address, repository, staged[arch])["layers"][-1]["size"]
        assert 0 < uploaded < 60_000 < app_layer, (arch, uploaded, app_layer)
        config = config_of(address, repository, digests[arch])
        new_config = config_of(address, repository, staged[arch])
        assert config["architecture"] == arch and config["os"] == "linux"
        labels = {
            k: v
            for k, v in (config["config"].get("Labels") or {}).items()
            if not k.startswith(CHAIN_LABEL_PREFIX)
        }
        assert {**config["config"], "Labels": labels} == new_config["config"]

    # Every platform has its tree index beside it (the referrers tag schema here).
    for arch, digest in digests.items():
        assert registries.manifest(address, repository, digest.replace(":", "-")) is not None, arch

    # --platform limits the deltas: the others are NEW's manifests as built.
    result = optimize(address, repository, "1", "2-staging", "2-arm", "--platform", "linux/arm64/v8")
    assert result.returncode == 0, result.stderr
    print(result.stdout)
    assert "linux/arm64: 2 new, 2 changed, 1 removed" in result.stdout
    assert "linux/amd64: NEW as built (not selected)" in result.stdout
    assert f"linux/{OLD_ONLY}: only in OLD, dropped" in result.stdout
    arm_only = {
        e["platform"]["architecture"]: e["digest"]
        for e in registries.manifest(address, repository, "2-arm")["manifests"]
    }
    assert arm_only["amd64"] == staged["amd64"] and arm_only["arm64"] == digests["arm64"]

    # verify answers per platform from the registry: equal to NEW; OLD differs, s390x only in OLD.
    verified = run("verify", f"{address}/{repository}:2-staging", f"{address}/{repository}:2", "--json")
    assert verified.returncode == 0, verified.stderr
    answers = json.loads(verified.stdout)
    jsonschema.validate(answers, json.loads((schemas / "verify.schema.json").read_text()))
    assert answers["equal"] and len(answers["platforms"]) == 3
    differs = run("verify", f"{address}/{repository}:1", f"{address}/{repository}:2", "--path", "/app")
    assert differs.returncode == 1, differs.stderr
    assert f"platform linux/{OLD_ONLY}: only in A" in differs.stdout
    assert "only in B: new.txt" in differs.stdout and "only in A: gone.txt" in differs.stdout
    one = run("verify", f"{address}/{repository}:1", f"{address}/{repository}:2", "--platform", "linux/amd64")
    assert one.returncode == 1 and "linux/arm64" not in one.stdout and "linux/amd64:" in one.stdout

    # report answers per platform from manifests: the delta's compressed bytes against NEW's.
    reported = run(
        "report",
        f"{address}/{repository}:2",
        "--base",
        f"{address}/{repository}:1",
        "--new",
        f"{address}/{repository}:2-staging",
        "--json",
    )
    assert reported.returncode == 0, reported.stderr
    figures = json.loads(reported.stdout)
    jsonschema.validate(figures, json.loads((schemas / "report.schema.json").read_text()))
    rows = {row["platform"]: row for row in figures["platforms"]}
    for arch in BOTH:
        row = rows[f"linux/{arch}"]
        assert len(row["layers"]) == 1 and row["depth"] == 1
        assert (
            row["bytes_added"]
            < 60_000
            < row["naive_bytes"]
            == by_platform[f"linux/{arch}"]["naive_upload_bytes"]
        )
    assert "has no" in rows[f"linux/{NEW_ONLY}"]["note"] and len(rows[f"linux/{NEW_ONLY}"]["layers"]) == 2

    # --new-if-no-old, no OLD yet: every platform as built, into another repository (blobs mounted).
    first = run(
        "optimize",
        f"{address}/mp/first:1",
        f"{address}/{repository}:2-staging",
        "--path",
        "/app",
        "--push",
        f"{address}/mp/first:1",
        "--new-if-no-old",
        "--json",
    )
    assert first.returncode == 0, first.stderr
    assert {f["chain"]["decision"] for f in json.loads(first.stdout)["platforms"]} == {"first"}
    first_index = registries.manifest(address, "mp/first", "1")
    assert [e["digest"] for e in first_index["manifests"]] == [e["digest"] for e in staging["manifests"]]
    for entry in first_index["manifests"]:
        assert registries.manifest(address, "mp/first", entry["digest"].replace(":", "-")) is not None

    # Pulled back per platform, each equals NEW's by the independent comparison.
    for arch in (*BOTH, NEW_ONLY):
        assert pulled_tree_differences(address, repository, "2-staging", "2", arch) == [], arch


def test_the_whole_image_of_each_platform(platforms_built, registry):
    """``--path /``: each platform's whole tree is compared (its base's /etc/arch
    included, unchanged), and each gets one small layer equal to NEW's. Several
    paths are checked in each platform's tree: one NEW lacks is refused."""
    address, storage = registry
    prefix, repository = platforms_built, "mp/whole"
    put_index(address, repository, "1", push_platforms(address, prefix, "1", BOTH, repository))
    put_index(address, repository, "2-staging", push_platforms(address, prefix, "2", BOTH, repository))
    images = [f"{address}/{repository}:{tag}" for tag in ("1", "2-staging")]
    target = f"{address}/{repository}:2"
    missing = run("optimize", *images, "--path", "/app", "--path", "/srv", "--push", target)
    assert missing.returncode == 2 and "/srv: not a directory in" in missing.stderr, missing.stderr
    result = run("optimize", *images, "--path", "/", "--push", target, "--json")
    assert result.returncode == 0, result.stderr
    for figures in json.loads(result.stdout)["platforms"]:
        assert figures["method"] == "layer" and figures["verified"], figures
        assert (figures["new"], figures["changed"], figures["removed"]) == (2, 2, 1), figures
        assert figures["bytes_added"] < 60_000, figures
    for arch in BOTH:
        assert pulled_tree_differences(address, repository, "2-staging", "2", arch) == [], arch


def test_bad_platform_input_exits_2_and_pushes_nothing(platforms_built, registry):
    address, _ = registry
    prefix, repository = platforms_built, "mp/bad"
    old_entries = push_platforms(address, prefix, "1", BOTH, repository)
    put_index(address, repository, "1", old_entries)
    new_entries = push_platforms(address, prefix, "2", BOTH, repository)
    put_index(address, repository, "2-staging", new_entries)
    variant = [
        ({**platform, "architecture": "arm", "variant": "v7"}, body, t) for platform, body, t in new_entries
    ]
    put_index(
        address,
        repository,
        "1-armv6",
        [({"os": "linux", "architecture": "arm", "variant": "v6"}, *old_entries[0][1:])],
    )
    put_index(address, repository, "2-armv7", variant[:1])
    nested_body = registries.manifest(address, repository, "2-staging", raw=True)
    put_index(
        address, repository, "2-nested", [({"os": "linux", "architecture": "amd64"}, nested_body, OCI_INDEX)]
    )

    cases = [
        ("2-staging", "1", ["--platform", "linux/ppc64le"], "has no linux/ppc64le"),
        ("2-armv7", "1-armv6", [], "differ in architecture variant"),
        ("2-nested", "1", [], "index inside its index"),
    ]
    for new, old, extra, message in cases:
        result = optimize(address, repository, old, new, "3", *extra)
        assert result.returncode == 2, (new, result.stderr)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert registries.manifest(address, repository, "3") is None
