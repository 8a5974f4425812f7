"""What the kit does differently on Podman's Docker-compatible API, checked
against a stand-in for the docker SDK client (the engine tests run on Docker;
by hand on Podman 4.3.1, `diff` and `verify` give Docker's results)."""

from types import SimpleNamespace

import pytest

from difflayers.adapters.engine import PLACEHOLDER, Engine
from difflayers.errors import EngineError


class Api:
    base_url = "http+docker://localhost"

    def __init__(self, init_answer):
        self.posted, self.init_answer = [], init_answer

    def create_container(self, image, **kwargs):
        return {"Id": "c1"}

    def create_host_config(self, **kwargs):
        return kwargs

    def _post(self, url):
        self.posted.append(url)
        return self.init_answer


def engine(components, init_answer=None):
    version = {"Components": [{"Name": name} for name in components]}
    client = SimpleNamespace(api=Api(init_answer), version=lambda: version)
    return Engine(client)


def test_podman_is_told_by_its_components_and_gets_no_buildkit():
    assert not engine(["Engine", "containerd", "runc"]).is_podman
    podman = engine(["Podman Engine", "Conmon", "OCI Runtime (runc)"])
    assert podman.is_podman and podman.buildkit_cli is None


def test_podman_fills_volumes_at_init_and_nothing_of_the_image_runs():
    refused = SimpleNamespace(status_code=500, text=f'exec: "{PLACEHOLDER}": no such file or directory')
    podman = engine(["Podman Engine"], refused)
    assert podman._create_idle("img", "old", binds={"v": {"bind": "/app", "mode": "rw"}}) == "c1"
    assert podman.client.api.posted == ["http+docker://localhost/v4.0.0/libpod/containers/c1/init"]
    assert podman._create_idle("img", "old") == "c1" and len(podman.client.api.posted) == 1  # no volume
    other = engine(["Podman Engine"], SimpleNamespace(status_code=500, text="no space left on device"))
    with pytest.raises(EngineError, match="no space left"):
        other._create_idle("img", "old", binds={"v": {"bind": "/app", "mode": "rw"}})
    docker = engine(["Engine"])
    assert docker._create_idle("img", "old", binds={"v": {}}) == "c1" and docker.client.api.posted == []
