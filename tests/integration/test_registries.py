"""`--push` to registries that ask for a login, on real servers: Debian's
docker-registry with htpasswd behind TLS (credentials from `docker login`,
then from a credential helper), with token auth (an issuer written here,
scopes checked), behind a proxy that refuses mounts, and one that fails the
first requests of each kind. The kit reads Docker's own config
(``DOCKER_CONFIG``) and a certs.d folder (``DIFFLAYERS_CERTS_D``): nothing new.
"""

import base64
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from . import registries
from .conftest import sh
from .independent import config_differences, tree_differences

pytestmark = pytest.mark.engine
CLI = [sys.executable, "-m", "difflayers"]
USERS = {"pusher": "s3cret-push-pw", "reader": "s3cret-read-pw"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """OLD and NEW FROM scratch, removed afterwards. OLD's layer holds 20 MiB of
    random bytes: more than one chunk when a registry will not mount it."""
    tmp = tmp_path_factory.mktemp("pair")
    tags = {}
    for side, parent in (("old", "scratch"), ("new", "difflayers-test-registries:old")):
        context = tmp / side
        context.mkdir()
        (context / "a.txt").write_text(f"{side} " * 1000)
        (context / f"{side}.txt").write_text(side)
        if side == "old":
            (context / "big.bin").write_bytes(os.urandom(20 << 20))
        files = "a.txt old.txt big.bin" if side == "old" else "a.txt new.txt"
        (context / "Dockerfile").write_text(f"FROM {parent}\nCOPY {files} /app/\n")
        tags[side] = f"difflayers-test-registries:{side}"
        sh(["docker", "build", "-q", "-t", tags[side], "."], context)
    yield tags
    sh(["docker", "image", "rm", "-f", tags["new"], tags["old"]], ".", check=False)


def kit(*args, env=None, check=True):
    return sh([*CLI, *args], ".", env=env, check=check)


def push_with_kit(old_remote: str, new: str, target: str, env: dict, *extra, check=True):
    """``difflayers optimize OLD NEW --path /app --push TARGET`` with Docker's config in ``env``."""
    return kit("optimize", old_remote, new, "--path", "/app", "--push", target, *extra, env=env, check=check)


def push_old(pair, remote: str, config_dir: Path, made: list) -> None:
    """The engine pushes OLD (a RepoDigest is what tells the kit OLD is there)."""
    env = {"DOCKER_CONFIG": str(config_dir)}
    sh(["docker", "tag", pair["old"], remote], ".")
    made.append(remote)
    sh(["docker", "push", remote], ".", env=env)


def pulled_back_equal(pair, target: str, config_dir: Path) -> None:
    sh(["docker", "image", "rm", target], ".")
    sh(["docker", "pull", target], ".", env={"DOCKER_CONFIG": str(config_dir)})
    assert tree_differences(pair["new"], target) == [] and config_differences(pair["new"], target) == []


def no_secret_in(texts, folder: Path | None = None) -> None:
    secrets = [pw for pw in USERS.values()] + [
        base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in USERS.items()
    ]
    for text in texts:
        assert not any(secret in text for secret in secrets)
    if folder is not None:
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(secret.encode() in data for secret in secrets), path


@pytest.fixture
def tls_registry(tmp_path, tools_on_path):
    """htpasswd behind TLS; the engine trusts its CA through /etc/docker/certs.d,
    the kit through a certs.d folder of the test's (DIFFLAYERS_CERTS_D)."""
    ca = registries.make_ca(tmp_path)
    cert = registries.make_server_cert(tmp_path, ca)
    registries.htpasswd_file(tmp_path / "htpasswd", USERS)
    extra = f"auth:\n  htpasswd:\n    realm: difflayers-test\n    path: {tmp_path / 'htpasswd'}\n"
    server = registries.RegistryServer(tmp_path, extra, tls=cert)
    engine_trust = registries.trust_for_engine(server.address, ca[0])
    certs_d = tmp_path / "certs.d"
    (certs_d / server.address).mkdir(parents=True)
    shutil.copy(ca[0], certs_d / server.address / "ca.crt")
    try:
        yield server, ca[0], certs_d
    finally:
        server.stop()
        shutil.rmtree(engine_trust, ignore_errors=True)


@pytest.mark.store  # the engine's push differs by store
def test_push_with_a_docker_login_over_tls(tmp_path, pair, tls_registry):
    server, ca, certs_d = tls_registry
    config_dir = tmp_path / "docker-config"
    registries.docker_login(config_dir, server.address, "pusher", USERS["pusher"])
    made = []
    old_remote, target = f"{server.address}/team/app:1", f"{server.address}/team/app:2"
    try:
        push_old(pair, old_remote, config_dir, made)
        env = {"DOCKER_CONFIG": str(config_dir), "DIFFLAYERS_CERTS_D": str(certs_d)}
        output = tmp_path / "out"
        result = push_with_kit(old_remote, pair["new"], target, env, "--json", "--output", str(output))
        made.append(target)
        summary = json.loads(result.stdout)
        assert summary["layers_mounted"] == 0  # same repository: OLD's layers are there already
        assert summary["layers_copied"] == 0 and 0 < summary["bytes_uploaded"] < 20_000
        no_secret_in([result.stdout, result.stderr], output)
        pulled_back_equal(pair, target, config_dir)
        # Another repository: OLD's layers are mounted across, with the same login.
        other = f"{server.address}/other/app:2"
        result = push_with_kit(old_remote, pair["new"], other, env, "--json")
        made.append(other)
        assert json.loads(result.stdout)["layers_mounted"] == len(registries_layers(old_remote))
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)


def registries_layers(image: str) -> list:
    return json.loads(sh(["docker", "image", "inspect", image], ".").stdout)[0]["RootFS"]["Layers"]


def test_a_wrong_password_is_one_line_and_pushes_nothing(tmp_path, pair, tls_registry):
    server, ca, certs_d = tls_registry
    good, bad = tmp_path / "good", tmp_path / "bad"
    registries.docker_login(good, server.address, "pusher", USERS["pusher"])
    made = []
    old_remote, target = f"{server.address}/team/app:1", f"{server.address}/team/app:wrong"
    try:
        push_old(pair, old_remote, good, made)
        bad.mkdir()
        auth = base64.b64encode(b"pusher:not-the-password").decode()
        (bad / "config.json").write_text(json.dumps({"auths": {server.address: {"auth": auth}}}))
        env = {"DOCKER_CONFIG": str(bad), "DIFFLAYERS_CERTS_D": str(certs_d)}
        result = push_with_kit(old_remote, pair["new"], target, env, check=False)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert "Traceback" not in result.stderr and server.address in lines[-1] and "401" in lines[-1]
        assert "pusher" in lines[-1] and "not-the-password" not in result.stderr
        authorization = "Basic " + base64.b64encode(f"pusher:{USERS['pusher']}".encode()).decode()
        assert registries.manifest(server.address, "team/app", "wrong", authorization, "https", ca) is None
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)


def test_credentials_from_a_helper(tmp_path, pair, tls_registry):
    server, ca, certs_d = tls_registry
    engine_config = tmp_path / "engine-config"
    registries.docker_login(engine_config, server.address, "pusher", USERS["pusher"])
    helper_config, bin_dir = tmp_path / "helper-config", tmp_path / "bin"
    helper_config.mkdir()
    bin_dir.mkdir()
    (helper_config / "config.json").write_text(
        json.dumps({"credHelpers": {server.address: "difflayerstest"}})
    )
    helper = bin_dir / "docker-credential-difflayerstest"
    answer = json.dumps({"ServerURL": server.address, "Username": "pusher", "Secret": USERS["pusher"]})
    helper.write_text(f"#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat >/dev/null\necho '{answer}'\n")
    helper.chmod(0o755)
    made = []
    old_remote, target = f"{server.address}/team/app:1", f"{server.address}/team/app:helper"
    try:
        push_old(pair, old_remote, engine_config, made)
        env = {
            "DOCKER_CONFIG": str(helper_config),
            "DIFFLAYERS_CERTS_D": str(certs_d),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
        }
        result = push_with_kit(old_remote, pair["new"], target, env, "--json")
        made.append(target)
        assert json.loads(result.stdout)["pushed"].startswith(f"{server.address}/team/app@sha256:")
        no_secret_in([result.stdout, result.stderr])
        pulled_back_equal(pair, target, engine_config)
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)


@pytest.fixture
def token_registry(tmp_path, tools_on_path):
    issuer = registries.TokenIssuer(tmp_path, USERS, {"pusher": {"pull", "push"}, "reader": {"pull"}})
    server = registries.RegistryServer(tmp_path, issuer.registry_config())
    try:
        yield server, issuer
    finally:
        server.stop()
        issuer.stop()


def test_token_auth_asks_for_the_scopes_a_mount_needs(tmp_path, pair, token_registry):
    server, issuer = token_registry
    pusher, reader = tmp_path / "pusher", tmp_path / "reader"
    registries.docker_login(pusher, server.address, "pusher", USERS["pusher"])
    registries.docker_login(reader, server.address, "reader", USERS["reader"])
    made = []
    old_remote, target = f"{server.address}/team/app:1", f"{server.address}/other/app:2"
    try:
        push_old(pair, old_remote, pusher, made)
        issuer.asked.clear()
        result = push_with_kit(old_remote, pair["new"], target, {"DOCKER_CONFIG": str(pusher)}, "--json")
        made.append(target)
        summary = json.loads(result.stdout)
        assert summary["layers_mounted"] == len(registries_layers(old_remote))
        asked = {scope for user, scopes in issuer.asked if user == "pusher" for scope in scopes}
        assert {"repository:team/app:pull", "repository:other/app:pull,push"} <= asked, issuer.asked
        no_secret_in([result.stdout, result.stderr])
        pulled_back_equal(pair, target, pusher)
        # A login that may only pull: refused, one line, nothing under the tag.
        denied = f"{server.address}/other/app:denied"
        result = push_with_kit(old_remote, pair["new"], denied, {"DOCKER_CONFIG": str(reader)}, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert server.address in result.stderr and "reader" in result.stderr
        # Exit 2 is "nothing tagged or pushed": the tag put before the push is taken back.
        assert sh(["docker", "image", "inspect", denied], ".", check=False).returncode != 0
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)


@pytest.mark.store  # OLD's blobs read from the store
def test_a_registry_that_will_not_mount_gets_the_blobs_copied(tmp_path, pair, proxied):
    server, proxy = proxied
    config_dir = tmp_path / "none"
    made = []
    old_remote, target = f"{proxy.address}/team/app:1", f"{proxy.address}/other/app:2"
    try:
        push_old(pair, old_remote, config_dir, made)
        proxy.refuse_mounts = True
        result = push_with_kit(old_remote, pair["new"], target, proxy.env, "--json")
        made.append(target)
        summary = json.loads(result.stdout)
        assert summary["layers_mounted"] == 0
        assert summary["layers_copied"] == len(registries_layers(old_remote)) and summary["bytes_copied"] > 0
        assert "did not mount" in result.stderr and "uploaded 16,777,216 of" in result.stderr
        proxy.refuse_mounts = False
        pulled_back_equal(pair, target, config_dir)
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)


def test_dropped_connections_and_503s_are_retried_and_nothing_is_duplicated(tmp_path, pair, proxied):
    server, proxy = proxied
    config_dir = tmp_path / "none"
    made = []
    old_remote, target = f"{proxy.address}/team/app:1", f"{proxy.address}/team/app:2"
    try:
        push_old(pair, old_remote, config_dir, made)
        before = server.blob_bytes()
        proxy.seen.clear()
        proxy.flaky = True
        result = push_with_kit(old_remote, pair["new"], target, proxy.env, "--json")
        made.append(target)
        proxy.flaky = False
        summary = json.loads(result.stdout)
        assert max(proxy.seen.values()) >= 3  # every kind failed twice before it went through
        # Each blob once (the image's, and its tree index's).
        assert server.blob_bytes() - before == summary["bytes_uploaded"] + summary["new_index"]["bytes_sent"]
        pulled_back_equal(pair, target, config_dir)
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)


def test_a_push_cut_off_before_the_manifest_leaves_the_tag_and_completes_when_run_again(
    tmp_path, pair, proxied
):
    server, proxy = proxied
    config_dir = tmp_path / "none"
    made = []
    old_remote, target = f"{proxy.address}/team/app:1", f"{proxy.address}/team/app:2"
    try:
        push_old(pair, old_remote, config_dir, made)
        before = server.blob_bytes()
        proxy.failing = {"PUT /manifests/"}
        result = push_with_kit(old_remote, pair["new"], target, proxy.env, "--json", check=False)
        made.append(target)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "HTTP 500" in result.stderr.strip().splitlines()[-1]
        assert registries.manifest(server.address, "team/app", "2") is None
        uploaded = server.blob_bytes() - before  # the delta and the config made it
        proxy.failing = set()
        again = json.loads(push_with_kit(old_remote, pair["new"], target, proxy.env, "--json").stdout)
        # The delta layer is not sent again; the second run's image has its own
        # config (a new creation time), a few hundred bytes, and the manifest.
        assert again["bytes_uploaded"] < 5_000
        assert server.blob_bytes() - before - uploaded < 5_000
        pulled_back_equal(pair, target, config_dir)
    finally:
        sh(["docker", "image", "rm", "-f", *made], ".", check=False)


@pytest.mark.once
def test_verify_and_report_talk_http_to_a_registry_not_on_loopback_only_when_told(tmp_path, pair):
    """The engine pushes to loopback (plain HTTP there); a second server on a
    non-loopback address serves the same storage, also in plain HTTP, which the
    kit does not assume away from loopback: HTTPS unless ``--plain-http``."""
    (tmp_path / "near").mkdir()
    near = registries.RegistryServer(tmp_path / "near")
    far = None
    try:
        for side in ("old", "new"):
            remote = f"{near.address}/plain/app:{side}"
            for argv in (["tag", pair[side], remote], ["push", "-q", remote], ["image", "rm", remote]):
                sh(["docker", *argv], ".")
        (tmp_path / "far").mkdir()
        address = registries.lan_address()
        if address is None:
            pytest.skip("this machine has no IPv4 address but loopback")
        far = registries.RegistryServer(tmp_path / "far", host=address, storage=near.storage)
        old, new = (f"{far.address}/plain/app:{side}" for side in ("old", "new"))

        told = kit("verify", old, new, "--path", "/app", "--plain-http", check=False)
        assert told.returncode == 1 and "only in B: new.txt" in told.stdout, told.stdout + told.stderr
        untold = kit("verify", old, new, "--path", "/app", check=False)
        assert untold.returncode == 2 and far.address in untold.stderr, untold.stderr
        assert "Traceback" not in untold.stderr
        figures = json.loads(kit("report", new, "--base", old, "--plain-http", "--json").stdout)
        (row,) = figures["platforms"]
        assert len(row["layers"]) == 1 and 0 < row["bytes_added"] < 20_000, row
    finally:
        for server in (far, near):
            if server is not None:
                server.stop()
