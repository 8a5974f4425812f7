"""A CI runner that never had OLD: `optimize REG/app:N app:N+1 --push REG/app:N+1`
with OLD only in the registry, on a real engine and Debian's docker-registry
(which has no referrers API, so the referrers tag schema is what is met),
behind a loopback proxy that counts every byte the kit downloads.

Revision 1 is pushed by the engine without an index: the kit builds it once
from OLD's layers and attaches it. Revision 3 then finds revision 2's index:
it downloads kilobytes, reads NEW once, and OLD never enters the engine.
Each pushed image is pulled back and compared with NEW by the independent
comparison. A corrupted index is refused (exit 2), then rebuilt on request.
"""

import gzip
import json
import os
import sys
from pathlib import Path

import jsonschema
import pytest

from difflayers.adapters.registry import Registry
from difflayers.core import treeindex
from difflayers.methods import indexartifact

from . import registries
from .conftest import sh
from .independent import config_differences, tree_differences

pytestmark = pytest.mark.engine
CLI = [sys.executable, "-m", "difflayers"]
FILES = 60  # of 64 KiB: OLD's app layer is about 4 MiB


@pytest.fixture(scope="module")
def revisions(tmp_path_factory, unique_module):
    """A base image with files outside /app, and three revisions of /app on it:
    2 changes, adds, removes and newly hardlinks; 3 changes one file."""
    tmp = tmp_path_factory.mktemp("revisions")
    prefix = f"difflayers-test-index-{unique_module}"
    base = tmp / "base"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "base.conf").write_text("base\n")
    (base / "Dockerfile").write_text("FROM scratch\nCOPY etc /etc\n")
    sh(["docker", "build", "-q", "-t", f"{prefix}:base", "."], base)
    app = tmp / "app"
    (app / "app" / "data").mkdir(parents=True)
    for i in range(FILES):
        (app / "app" / "data" / f"f{i:02}.bin").write_bytes(os.urandom(64 << 10))
    (app / "app" / "main.txt").write_text("revision 1\n")
    (app / "app" / "gone.txt").write_text("removed in revision 2\n")
    (app / "Dockerfile").write_text(f'FROM {prefix}:base\nCOPY app /app\nCMD ["/app/main.txt"]\n')
    tags = {}

    def build(n):
        tags[n] = f"{prefix}:{n}"
        sh(["docker", "build", "-q", "-t", tags[n], "."], app)

    build(1)
    (app / "app" / "main.txt").write_text("revision 2\n")
    (app / "app" / "gone.txt").unlink()
    (app / "app" / "new line\nname.txt").write_text("odd names are data\n")
    os.link(app / "app" / "data" / "f01.bin", app / "app" / "data" / "f01-link.bin")
    build(2)
    (app / "app" / "data" / "f07.bin").write_bytes(os.urandom(64 << 10))
    build(3)
    (app / "app" / "main.txt").write_text("revision 4\n")
    build(4)
    yield tags
    sh(["docker", "image", "rm", "-f", *tags.values(), f"{prefix}:base"], ".", check=False)


def kit(*args, env, check=True):
    return sh([*CLI, *args], ".", env=env, check=check)


SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def as_documented(command: str, stdout: str) -> dict:
    """The --json output, checked against its published schema."""
    document = json.loads(stdout)
    schema = json.loads((SCHEMAS / f"{command}.schema.json").read_text())
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    return document


def optimize(old: str, new: str, target: str, env) -> dict:
    result = kit("optimize", old, new, "--path", "/app", "--push", target, "--json", env=env)
    return as_documented("optimize", result.stdout)


def absent(image: str) -> bool:
    return sh(["docker", "image", "inspect", image], ".", check=False).returncode != 0


def pulled_back_equal(new: str, remote: str, env) -> None:
    """Pulled into the engine, compared with NEW by the independent comparison, removed again."""
    sh(["docker", "pull", "-q", remote], ".", env=env)
    try:
        assert tree_differences(new, remote) == [] and config_differences(new, remote) == []
    finally:
        sh(["docker", "image", "rm", remote], ".")


def test_optimize_with_old_only_in_the_registry(revisions, proxied, tmp_path):
    server, proxy = proxied
    env = proxy.env
    repo = f"{proxy.address}/team/app"
    old = f"{repo}:1"
    # Revision 1 as built, pushed by the engine (no index), then gone from the engine.
    sh(["docker", "tag", revisions[1], old], ".")
    sh(["docker", "push", "-q", old], ".", env=env)
    sh(["docker", "image", "rm", old, revisions[1]], ".")
    assert absent(old)
    old_manifest = manifest("team/app", "1", env)
    old_bytes = sum(layer["size"] for layer in old_manifest["layers"])

    # Revision 2: OLD has no index; it is built from OLD's layers, once, and attached.
    first = optimize(old, revisions[2], f"{repo}:2", env)
    assert absent(old)
    assert first["old_index"]["built"] and first["old_index"]["pushed"]
    assert first["old_index"]["layer_bytes_read"] >= old_bytes  # what building it cost, reported
    # New: the odd name and the new hardlink name; changed: main.txt and f01.bin, newly linked.
    assert (first["new"], first["changed"], first["removed"]) == (2, 2, 1)
    assert first["verified"] and first["chain"]["decision"] == "delta"
    pulled_back_equal(revisions[2], f"{repo}:2", env)
    # The index pushed beside revision 2 is the one its layers give (read again
    # from the registry) and the one the engine's archive of NEW gives.
    from_registry = tmp_path / "registry.jsonl.gz"
    from_engine = tmp_path / "engine.jsonl.gz"
    built = kit(
        "index", f"{repo}:2", "--path", "/app", "-o", str(from_registry), "--rebuild", "--json", env=env
    )
    assert as_documented("index", built.stdout)["source"] == "registry"
    kit("index", revisions[2], "--path", "/app", "-o", str(from_engine), env=env)
    assert treeindex.load(from_registry.read_bytes()) == treeindex.load(from_engine.read_bytes())

    # Revision 3 against revision 2, which has an index: kilobytes down, NEW read once.
    proxy.sent = 0
    third = optimize(f"{repo}:2", revisions[3], f"{repo}:3", env)
    downloaded = proxy.sent
    assert not third["old_index"]["built"] and third["old_index"]["layer_bytes_read"] == 0
    assert third["new_reads"] == 1 and third["old_layer_bytes_read"] == 0
    assert (third["new"], third["changed"], third["removed"]) == (0, 1, 0)
    assert downloaded <= 0.01 * old_bytes, (downloaded, old_bytes)
    assert third["registry_bytes_downloaded"] <= downloaded
    assert absent(f"{repo}:2") and absent(old)
    # OLD's layers reused: revision 3 is revision 1's two layers + two deltas.
    pushed = manifest("team/app", "3", env)
    assert [layer["digest"] for layer in pushed["layers"][:2]] == [
        layer["digest"] for layer in old_manifest["layers"]
    ]
    assert len(pushed["layers"]) == 4
    pulled_back_equal(revisions[3], f"{repo}:3", env)

    # The index is kept under the referrers tag of revision 3's manifest (no referrers API here).
    digest = third["pushed"].rsplit("@", 1)[1]
    listed = manifest("team/app", "sha256-" + digest.split(":")[1], env)
    assert [entry["artifactType"] for entry in listed["manifests"]] == [
        "application/vnd.difflayers.tree-index.v1"
    ]

    # A corrupted index beside revision 3 is refused: exit 2, nothing pushed.
    registry = Registry(proxy.address, certs_d=env["DIFFLAYERS_CERTS_D"])
    size = len(manifest("team/app", "3", env, raw=True))
    subject = {"mediaType": pushed["mediaType"], "digest": digest, "size": size}
    bad = gzip.compress(
        b'{"schema":"io.github.difflayers.tree-index","version":1,"path":"/app"}\n["..",1]\n', mtime=0
    )
    indexartifact.attach(registry, "team/app", subject, bad, "/app")
    refused = kit(
        "optimize", f"{repo}:3", revisions[4], "--path", "/app", "--push", f"{repo}:4", env=env, check=False
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "tree index" in refused.stderr and "--rebuild" in refused.stderr
    assert manifest("team/app", "4", env) is None
    # Rebuilt from revision 3's layers on request, then used.
    kit("index", f"{repo}:3", "--path", "/app", "--push", "--rebuild", env=env)
    fourth = optimize(f"{repo}:3", revisions[4], f"{repo}:4", env)
    assert not fourth["old_index"]["built"] and fourth["changed"] == 1
    pulled_back_equal(revisions[4], f"{repo}:4", env)


def manifest(repository: str, reference: str, env, raw=False):
    """Read from the registry through the proxy (TLS, the test's CA)."""
    certs_d = env["DIFFLAYERS_CERTS_D"]
    (host,) = os.listdir(certs_d)
    ca = os.path.join(certs_d, host, "ca.crt")
    return registries.manifest(host, repository, reference, scheme="https", ca=ca, raw=raw)


def test_a_delta_of_the_path_cannot_hide_a_change_outside_it(revisions, proxied, tmp_path):
    """NEW's own layers change /etc too: a delta of /app would not make NEW, so no push."""
    server, proxy = proxied
    env = proxy.env
    repo = f"{proxy.address}/team/other"
    sh(["docker", "tag", revisions[3], f"{repo}:1"], ".")
    sh(["docker", "push", "-q", f"{repo}:1"], ".", env=env)
    sh(["docker", "image", "rm", f"{repo}:1"], ".")
    context = tmp_path / "outside"
    context.mkdir()
    (context / "extra.conf").write_text("outside /app\n")
    (context / "Dockerfile").write_text(f"FROM {revisions[4]}\nCOPY extra.conf /etc/extra.conf\n")
    new = revisions[4] + "-outside"
    sh(["docker", "build", "-q", "-t", new, "."], context)
    try:
        result = kit(
            "optimize", f"{repo}:1", new, "--path", "/app", "--push", f"{repo}:2", env=env, check=False
        )
        assert result.returncode == 2 and "outside /app" in result.stderr and "'etc" in result.stderr
        assert manifest("team/other", "2", env) is None
    finally:
        sh(["docker", "image", "rm", "-f", new], ".", check=False)
