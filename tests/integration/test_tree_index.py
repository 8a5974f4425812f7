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
import hashlib
import json
import os
import sys
from pathlib import Path
from unittest import mock

import jsonschema
import pytest

from difflayers.adapters.registry import Registry
from difflayers.core import treeindex
from difflayers.methods import indexartifact

from . import dialects, registries
from .conftest import sh
from .independent import config_differences, inspect, tree_differences

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
    tags["1-kept"] = f"{prefix}:1-kept"  # revision 1 for a later test; the first removes tag 1
    sh(["docker", "tag", tags[1], tags["1-kept"]], ".")
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
    # Read where it is (BuildKit mounts), not through the engine's archive endpoint.
    assert third["new_read_from"] == "mounts"
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
    # Revision 3's index is revision 2's (in the registry already, not sent
    # again) and a delta of what changed; read back, it composes to the index
    # the engine's archive of revision 3 gives.
    # Revision 2's too: OLD's index, built by that run, went up first, then
    # revision 2's as a delta on it.
    assert third["new_index"]["parts"] == 3 and first["new_index"]["parts"] == 2
    # (manifest and referrers list included; at 100,000 files the whole index is 4.3 MB)
    assert third["new_index"]["bytes_sent"] < third["new_index"]["bytes"], third["new_index"]
    composed = tmp_path / "composed.jsonl.gz"
    shown = kit("index", f"{repo}:3", "--path", "/app", "-o", str(composed), "--json", env=env)
    assert as_documented("index", shown.stdout)["stored"]["parts"] == 3  # as it is kept: read, composed
    kit("index", revisions[3], "--path", "/app", "-o", str(from_engine), env=env)
    assert treeindex.load(composed.read_bytes()) == treeindex.load(from_engine.read_bytes())

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


def first_pushed(revisions, proxy, repository: str) -> tuple:
    """Revision 1 tagged in ``repository`` of the proxied registry and pushed by
    the engine (no index beside it): (the repository's name, OLD's)."""
    repo = f"{proxy.address}/{repository}"
    old = f"{repo}:1"
    sh(["docker", "tag", revisions["1-kept"], old], ".")
    sh(["docker", "push", "-q", old], ".", env=proxy.env)
    return repo, old


def index_record(proxy, repository: str, summary: dict) -> dict:
    """The image record in the header of the tree index pushed beside the image a run pushed."""
    registry = Registry(proxy.address, certs_d=proxy.env["DIFFLAYERS_CERTS_D"])
    digest = summary["pushed"].rsplit("@", 1)[1]
    return treeindex.image_of(indexartifact.find(registry, repository, digest, "/app"))


def own_layer_bytes(repository: str, reference: str, env) -> int:
    """The compressed size of an image's layers above the base's one."""
    return sum(layer["size"] for layer in manifest(repository, reference, env)["layers"][1:])


@pytest.mark.parametrize("compare", ["auto", "volumes"])
def test_a_delta_of_the_path_cannot_hide_a_change_outside_it(revisions, proxied, tmp_path, compare):
    """NEW's own layers change /etc too: a delta of /app would not make NEW, so
    no push. Found in place (NEW against its FROM image, both mounted) or, NEW
    read through a container, in NEW's own layers."""
    server, proxy = proxied
    env = {**proxy.env, "DIFFLAYERS_COMPARE": compare}
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
        assert result.returncode == 2 and "outside /app" in result.stderr, result.stderr
        # Named: the folder and first entry (in place), or the layer's first name outside.
        named = "/etc (1); first: only in NEW: etc/extra.conf" if compare == "auto" else "changes 'etc'"
        assert named in result.stderr, result.stderr
        assert manifest("team/other", "2", env) is None
        # Its index, made from the engine: compared in place with the image it was
        # built FROM (revision 4) and found to differ outside /app: no scope recorded.
        sh(["docker", "tag", new, f"{repo}:outside"], ".")
        sh(["docker", "push", "-q", f"{repo}:outside"], ".", env=env)
        pushed = kit("index", f"{repo}:outside", "--path", "/app", "--push", "--json", env=env).stdout
        shown = as_documented("index", pushed)
        if compare == "auto":
            assert shown["scope"]["equal_outside_path"] is False, shown
            assert inspect(shown["scope"]["built_from"])["Id"] == inspect(revisions[4])["Id"], shown
        else:  # read through a container: nothing compared, nothing recorded
            assert "scope" not in shown, shown
        registry = Registry(proxy.address, certs_d=env["DIFFLAYERS_CERTS_D"])
        header = treeindex.image_of(indexartifact.find(registry, "team/other", shown["refers_to"], "/app"))
        assert "outside_as_layers" not in header, header
    finally:
        sh(["docker", "image", "rm", "-f", new, f"{repo}:outside"], ".", check=False)


def attach_forged(registry, repository: str, subject: dict, data: bytes, bind: bool) -> None:
    """What someone who can write to the repository can do: attach any index to
    OLD. ``bind``: stamped with OLD's layers by the kit's own attach (a forger can
    copy them); else attached as it is (another image's index, bound to its layers)."""
    if bind:
        indexartifact.attach(registry, repository, subject, data, "/app")
        return
    with mock.patch.object(indexartifact.treeindex, "bound", lambda index, digests, image=None: index):
        indexartifact.attach(registry, repository, subject, data, "/app")


def test_an_index_that_lies_is_refused_or_said_and_caught(revisions, proxied, tmp_path):
    """OLD's index replaced by one that lies, three ways. Another image's index
    is refused (bound to other layers). One that claims a file OLD lacks, or
    gives a changed file NEW's digest, cannot be told from OLD's own without
    reading OLD's layers: the run says its result rests on the index, `verify`
    finds the image differs from NEW, and `--verify full` refuses to push it."""
    server, proxy = proxied
    env = proxy.env
    repo, old = first_pushed(revisions, proxy, "team/lies")
    sh(["docker", "image", "rm", old], ".")
    registry = Registry(proxy.address, certs_d=env["DIFFLAYERS_CERTS_D"])
    old_manifest = manifest("team/lies", "1", env, raw=True)
    digest = "sha256:" + hashlib.sha256(old_manifest).hexdigest()
    subject = {
        "mediaType": json.loads(old_manifest)["mediaType"],
        "digest": digest,
        "size": len(old_manifest),
    }
    kit("index", old, "--path", "/app", "--push", env=env)
    true = treeindex.load(indexartifact.find(registry, "team/lies", digest, "/app"), "/app")
    new_file = tmp_path / "new.jsonl.gz"
    kit("index", revisions[2], "--path", "/app", "-o", str(new_file), env=env)
    new = treeindex.load(new_file.read_bytes(), "/app")
    odd = "new line\nname.txt"
    lies = {
        "claims a file OLD lacks": {**true, odd: new[odd]},
        "gives a changed file NEW's digest": {**true, "main.txt": new["main.txt"]},
    }
    for number, (lie, entries) in enumerate(lies.items(), start=2):
        attach_forged(registry, "team/lies", subject, treeindex.to_bytes("/app", entries.values()), bind=True)
        target = f"{repo}:{number}"
        full = kit(
            "optimize", old, revisions[2], "--path", "/app", "--push", target, "--verify", "full", env=env,
            check=False,
        )  # fmt: skip
        assert full.returncode == 1, (lie, full.stderr)
        assert "does not describe OLD's layers" in full.stderr and "Traceback" not in full.stderr
        assert manifest("team/lies", str(number), env) is None, lie
        trusted = optimize(old, revisions[2], target, env)
        assert trusted["old_tree"] == "registry index" and "not read from them" in trusted["equality"], lie
        # The image pushed is not NEW: `verify` and the independent comparison say so.
        sh(["docker", "pull", "-q", target], ".", env=env)
        try:
            caught = kit("verify", revisions[2], target, env=env, check=False)
            assert caught.returncode == 1, (lie, caught.stdout)
            assert tree_differences(revisions[2], target) != [], lie
        finally:
            sh(["docker", "image", "rm", target], ".")
    # Revision 3's own index, attached to OLD: bound to revision 3's layers, refused.
    sh(["docker", "tag", revisions[3], f"{repo}:other"], ".")
    sh(["docker", "push", "-q", f"{repo}:other"], ".", env=env)
    sh(["docker", "image", "rm", f"{repo}:other"], ".")
    kit("index", f"{repo}:other", "--path", "/app", "--push", env=env)
    other = manifest("team/lies", "other", env, raw=True)
    other_digest = "sha256:" + hashlib.sha256(other).hexdigest()
    theirs = indexartifact.find(registry, "team/lies", other_digest, "/app")
    attach_forged(registry, "team/lies", subject, theirs, bind=False)
    refused = kit(
        "optimize", old, revisions[2], "--path", "/app", "--push", f"{repo}:9", env=env, check=False
    )
    assert refused.returncode == 2 and "made for other layers" in refused.stderr, refused.stderr
    assert manifest("team/lies", "9", env) is None


@pytest.mark.store  # OLD's layers as each store gives them
def test_the_run_after_a_local_push_reads_none_of_olds_layers(revisions, proxied):
    """Revision 1 pushed by the engine; revision 2 made where revision 1 is (OLD
    in the engine) and pushed with its index; revision 3 made on a runner that
    has neither. The differ's pass of revision 2 found NEW equal to its FROM
    image outside /app, and the index says so: revision 3's run reads none of
    OLD's own layers (it read all of them before: 20 MB for a 20 MB app)."""
    server, proxy = proxied
    env = proxy.env
    repo, old = first_pushed(revisions, proxy, "team/local")
    second = optimize(old, revisions[2], f"{repo}:2", env)
    assert second["verified"] and second["check"] == "construction"
    assert index_record(proxy, "team/local", second)["outside_as_layers"] == 1  # the base: one layer
    own = own_layer_bytes("team/local", "1", env)
    sh(["docker", "image", "rm", old, f"{repo}:2"], ".", check=False)
    assert absent(old) and absent(f"{repo}:2")
    proxy.sent = 0
    third = optimize(f"{repo}:2", revisions[3], f"{repo}:3", env)
    assert third["old_layer_bytes_read"] == 0 and not third["old_index"]["built"]
    assert proxy.sent <= 0.01 * own, (proxy.sent, own)
    pulled_back_equal(revisions[3], f"{repo}:3", env)


@pytest.mark.store  # OLD here, found in its registry by each store's RepoDigests
def test_old_here_with_its_index_there_is_read_from_the_index(revisions, proxied):
    """`--push` with OLD in the engine and its tree index beside it in the
    registry (as the kit leaves one): OLD's tree is that index, as on a runner
    without OLD, so only NEW's /app is read, and NEW is compared in place with
    its FROM image outside /app (`difflayers index` recorded OLD's scope,
    comparing OLD with that image while it indexed /app). The image is loaded here under the tag
    and pushed, both equal to NEW; its index records the scope, so the run
    after it, on a runner without OLD, reads none of OLD's layers."""
    server, proxy = proxied
    env = proxy.env
    repo, old = first_pushed(revisions, proxy, "team/here")
    shown = as_documented("index", kit("index", old, "--path", "/app", "--push", "--json", env=env).stdout)
    # Compared with the image it was built FROM while /app was indexed: its scope is recorded.
    base = revisions[1].rsplit(":", 1)[0] + ":base"
    assert shown["scope"]["equal_outside_path"] is True, shown
    assert inspect(shown["scope"]["built_from"])["Id"] == inspect(base)["Id"], shown
    registry = Registry(proxy.address, certs_d=env["DIFFLAYERS_CERTS_D"])
    header = treeindex.image_of(indexartifact.find(registry, "team/here", shown["refers_to"], "/app"))
    assert header["outside_as_layers"] == 1 and header["layers"] == 2, header
    proxy.sent = 0
    second = optimize(old, revisions[2], f"{repo}:2", env)
    assert second["compared"] == "tree index" and second["old_in_engine"] is True, second
    assert not second["old_index"]["built"] and second["old_layer_bytes_read"] == 0
    assert second["new_read_from"] == "mounts" and second["verified"] and second["check"] == "construction"
    assert second["tag"] == f"{repo}:2" and second["layers_added"] == 1
    assert proxy.sent <= 0.01 * own_layer_bytes("team/here", "1", env), proxy.sent
    # Loaded here under the tag: NEW's tree and config, on OLD's layers.
    assert (
        tree_differences(revisions[2], f"{repo}:2") == []
        and config_differences(revisions[2], f"{repo}:2") == []
    )
    assert index_record(proxy, "team/here", second)["outside_as_layers"] == 1  # the base: one layer
    sh(["docker", "image", "rm", old, f"{repo}:2"], ".")
    pulled_back_equal(revisions[2], f"{repo}:2", env)
    proxy.sent = 0
    third = optimize(f"{repo}:2", revisions[3], f"{repo}:3", env)
    assert not third["old_in_engine"] and third["old_layer_bytes_read"] == 0
    assert proxy.sent <= 0.01 * own_layer_bytes("team/here", "2", env), proxy.sent
    pulled_back_equal(revisions[3], f"{repo}:3", env)


@pytest.mark.store  # the FROM image looked up by each store's IDs
def test_old_here_and_no_from_image_compares_new_with_old_itself(tmp_path, proxied, unique):
    """Where the engine has no tag for the image NEW was built FROM, NEW is
    compared in place with OLD itself outside the path: equal, the delta ships
    (equal to NEW, here and pulled back); a NEW that also writes /etc is
    refused before anything is pushed, naming what differs. A chain policy
    that wants a rebase gets the two-tree flow, which applies it (exit 3)."""
    server, proxy = proxied
    env = proxy.env
    repo = f"{proxy.address}/team/nofrom-{unique}"
    base, context = f"difflayers-test-nofrom-{unique}:base", tmp_path / "context"
    (context / "etc").mkdir(parents=True)
    (context / "etc" / "base.conf").write_text("base\n")
    (context / "app").mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY etc /etc\n")
    sh(["docker", "build", "-q", "-t", base, "."], context)
    images = {}

    def build(name: str, text: str, extra: str = "") -> str:
        (context / "app" / "main.txt").write_text(text)
        (context / "Dockerfile").write_text(f"FROM {base}\nCOPY app /app\n{extra}")
        images[name] = f"{repo}:{name}"
        sh(["docker", "build", "-q", "-t", images[name], "."], context)
        return images[name]

    old = build("1", "revision 1\n")
    new = build("2-build", "revision 2\n")
    outside = build("2-outside", "revision 2\n", "COPY etc/base.conf /etc/more.conf\n")
    sh(["docker", "image", "rm", base], ".")  # its layers stay, under OLD and NEW: no tag names them
    try:
        sh(["docker", "push", "-q", old], ".", env=env)
        kit("index", old, "--path", "/app", "--push", env=env)
        refused = kit("optimize", old, outside, "--path", "/app", "--push", f"{repo}:2", env=env, check=False)
        assert refused.returncode == 2, refused.stderr
        assert "NEW differs from OLD outside /app" in refused.stderr and "etc/more.conf" in refused.stderr
        assert manifest(f"team/nofrom-{unique}", "2", env) is None
        made = optimize(old, new, f"{repo}:2", env)
        assert made["compared"] == "tree index" and made["old_in_engine"] is True, made
        assert made["verified"] and made["layers_added"] == 1
        assert tree_differences(new, f"{repo}:2") == [] and config_differences(new, f"{repo}:2") == []
        sh(["docker", "image", "rm", f"{repo}:2"], ".")
        pulled_back_equal(new, f"{repo}:2", env)
        rebased = kit(
            "optimize", old, new, "--path", "/app", "--push", f"{repo}:3", "--min-layers-left", "124",
            "--json", env=env, check=False,
        )  # fmt: skip
        assert rebased.returncode == 3, rebased.stderr
        summary = json.loads(rebased.stdout)
        assert summary["chain"]["decision"] == "rebase-new" and summary["compared"] != "tree index"
        sh(["docker", "image", "rm", f"{repo}:3"], ".")
        pulled_back_equal(new, f"{repo}:3", env)
    finally:
        sh(["docker", "image", "rm", "-f", *images.values(), base], ".", check=False)


def test_the_tag_moves_last_after_the_index(revisions, proxied):
    """The image is pushed by digest, its tree index attached, then the tag put:
    a registry that fails the index (here the referrers list's tag) leaves the
    tag where it was, as exit 2 says ("nothing tagged or pushed"), both flows."""
    server, proxy = proxied
    env = proxy.env
    repo, old = first_pushed(revisions, proxy, "team/last")
    proxy.answers = {("PUT", "/manifests/sha256-"): (500, {})}
    for flow, old_ref in (("OLD in the engine", old), ("OLD only in the registry", None)):
        if old_ref is None:
            sh(["docker", "image", "rm", old], ".")
            old_ref = old
        failed = kit(
            "optimize", old_ref, revisions[2], "--path", "/app", "--push", f"{repo}:2", env=env, check=False
        )
        assert failed.returncode == 2 and "Traceback" not in failed.stderr, (flow, failed.stderr)
        assert manifest("team/last", "2", env) is None, flow
        assert absent(f"{repo}:2"), flow  # nor in the engine (exit 2: nothing tagged)
    proxy.answers = {}
    done = optimize(old, revisions[2], f"{repo}:2", env)
    assert manifest("team/last", "2", env) is not None and done["verified"]


ON_EVERY_ENGINE = {"referrers-api", "gitlab"}  # the rest differ only on the registry's side: once


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if n in ON_EVERY_ENGINE else pytest.mark.once)
        for n in sorted(dialects.DIALECTS)
    ],
)
def test_each_registry_ships_exact_images_and_finds_the_index_the_kit_left(revisions, proxied, name):
    """Against each registry's dialect (``dialects``): revision 2 made where
    revision 1 is (OLD in the engine) and pushed with its index; revision 3 made
    on a runner that has neither, pushed to another repository. It finds revision
    2's index wherever that registry keeps it, reads none of OLD's layers, and
    mounts OLD's layers, or copies them where the registry will not mount and
    says so. Both images pulled back equal NEW."""
    server, proxy = proxied
    env = proxy.env
    dialects.apply(proxy, name)
    repo, other = f"{proxy.address}/team/{name}", f"{proxy.address}/other/{name}"
    sh(["docker", "tag", revisions["1-kept"], f"{repo}:1"], ".")
    sh(["docker", "push", "-q", f"{repo}:1"], ".", env=env)
    second = optimize(f"{repo}:1", revisions[2], f"{repo}:2", env)
    assert second["verified"] and second["new_index"]["pushed"]
    sh(["docker", "image", "rm", f"{repo}:1", f"{repo}:2"], ".", check=False)
    assert absent(f"{repo}:1") and absent(f"{repo}:2")
    third = optimize(f"{repo}:2", revisions[3], f"{other}:3", env)
    assert third["verified"] and not third["old_index"]["built"] and third["old_layer_bytes_read"] == 0
    if name in dialects.MOUNTS_REFUSED:
        assert third["layers_mounted"] == 0 and third["bytes_copied"] > 0
    else:
        assert third["layers_copied"] == 0 and third["layers_mounted"] > 0
    if name in dialects.REFERRERS_API:
        assert len(proxy.referrers) == 2  # both indexes listed by the registry, no tag schema
    pulled_back_equal(revisions[2], f"{repo}:2", env)
    pulled_back_equal(revisions[3], f"{other}:3", env)


@pytest.mark.store  # the engine's push differs by store
def test_an_index_that_fails_after_the_engine_pushed_is_its_own_status(revisions, proxied):
    """The first revision is pushed as built by the engine, which moves the tag
    at once; the registry then fails the index's referrers list: exit 4, the
    image said pushed and tagged and how to attach its index, not exit 2."""
    server, proxy = proxied
    env = proxy.env
    target = f"{proxy.address}/team/first:1"
    proxy.answers = {("PUT", "/manifests/sha256-"): (500, {})}
    failed = kit(
        "optimize", target, revisions["1-kept"], "--path", "/app", "--push", target, "--new-if-no-old",
        env=env, check=False,
    )  # fmt: skip
    proxy.answers = {}
    assert failed.returncode == 4 and "Traceback" not in failed.stderr, failed.stderr
    assert "is pushed and tagged" in failed.stderr and "difflayers index" in failed.stderr
    assert manifest("team/first", "1", env) is not None
    sh(["docker", "image", "rm", target], ".", check=False)


def test_a_fresh_checkout_pushes_the_index_of_the_image_made_as_a_delta(registry, tmp_path, unique):
    """Every revision built from a fresh checkout: every file has a new mtime,
    one has new content. The image made keeps OLD's files, mtimes and all,
    where only the mtime changed, so its index (read back from the registry)
    is the index of the image as pulled, not of NEW as built; and the next
    revision's index, from a runner without OLD, goes up as a delta of a few
    rows on it, not whole."""
    address, _ = registry
    app = tmp_path / "app"
    (app / "app").mkdir(parents=True)
    for i in range(2000):  # an index of about 100 KB; its delta, a few rows
        (app / "app" / f"f{i:04}.txt").write_text(f"file {i}\n")
    (app / "Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    tags = [f"{unique}:{n}" for n in range(3)]
    remotes = [f"{address}/{unique}/app:{n}" for n in range(3)]
    env = dict(os.environ)

    def fresh_checkout(n):
        (app / "app" / "f0007.txt").write_text(f"revision {n}\n")
        stamp = 1_700_000_000 + n * 1000  # every file and folder newly written
        for path in [app / "app", *(app / "app").iterdir()]:
            os.utime(path, (stamp, stamp))
        # No build cache: its key ignores mtimes, and a layer of an earlier run would come back.
        sh(["docker", "build", "-q", "--no-cache", "-t", tags[n], "."], app)

    def index_of(image, dest):
        kit("index", image, "--path", "/app", "-o", str(dest), env=env)
        return treeindex.load(dest.read_bytes())

    try:
        fresh_checkout(0)
        sh(["docker", "tag", tags[0], remotes[0]], ".")
        sh(["docker", "push", "-q", remotes[0]], ".")
        fresh_checkout(1)
        second = optimize(remotes[0], tags[1], remotes[1], env)  # OLD in the engine
        assert second["verified"] and second["method"] == "layer", second
        fresh_checkout(2)
        sh(["docker", "image", "rm", *remotes[:2], *tags[:2]], ".")
        third = optimize(remotes[1], tags[2], remotes[2], env)  # a runner without OLD
        assert third["verified"] and third["old_tree"] == "registry index", third
        assert third["new_index"]["parts"] > 1, third["new_index"]  # a delta on OLD's, not whole
        assert third["new_index"]["bytes_sent"] < third["new_index"]["bytes"] / 4, third["new_index"]
        for remote in remotes[1:]:
            from_registry = index_of(remote, tmp_path / "registry.jsonl.gz")
            sh(["docker", "pull", "-q", remote], ".")
            assert index_of(remote, tmp_path / "pulled.jsonl.gz") == from_registry  # the image as it is
            sh(["docker", "image", "rm", remote], ".")
        as_built = index_of(tags[2], tmp_path / "built.jsonl.gz")
        assert as_built["f0000.txt"].mtime != from_registry["f0000.txt"].mtime  # NEW's is not the one kept
        assert as_built["f0007.txt"] == from_registry["f0007.txt"]  # shipped: NEW's entry
    finally:
        sh(["docker", "image", "rm", "-f", *tags, *remotes], ".", check=False)
