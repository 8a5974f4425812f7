"""Logins found as Docker finds them (config.json, Docker Hub's key), and
registry challenges read; no engine, no registry."""

import base64
import json

from difflayers.adapters.credentials import credentials_for
from difflayers.adapters.registry import parse_challenge
from difflayers.core.reference import parse_reference


def config(tmp_path, monkeypatch, data):
    (tmp_path / "config.json").write_text(json.dumps(data))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))


def auth(user, password):
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_docker_hub_names_use_docker_hubs_login(tmp_path, monkeypatch):
    config(tmp_path, monkeypatch, {"auths": {"https://index.docker.io/v1/": auth("someone", "pw")}})
    ref = parse_reference("someone/app:2")
    assert (ref.host, ref.api_host, ref.repository) == ("docker.io", "registry-1.docker.io", "someone/app")
    found = credentials_for(ref.host)
    assert found.basic == ("someone", "pw")
    assert "pw" not in repr(found)


def test_a_registry_with_a_port_and_none_without_login(tmp_path, monkeypatch):
    config(tmp_path, monkeypatch, {"auths": {"reg.example:5000": auth("u", "p")}})
    assert credentials_for("reg.example:5000").basic == ("u", "p")
    assert credentials_for("other.example") is None


def test_challenges():
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
