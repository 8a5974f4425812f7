"""What the kit does differently on Podman's Docker-compatible API, checked
against a stand-in for the docker SDK client (the engine tests run on Docker;
by hand on Podman 4.3.1, `diff` and `verify` give Docker's results)."""

import io
import tarfile
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


class BuildApi(Api):
    """Podman's build endpoint and what the pass's results are read back with."""

    def __init__(self, events, files):
        super().__init__(None)
        self.events, self.files, self.removed_images, self.removed_containers = events, files, [], []
        self.build_params = None

    def _url(self, path):
        return self.base_url + path

    def _post(self, url, params=None, data=None, headers=None, stream=False):
        if params is None:  # Podman's init of a container (``_create_idle`` with volumes)
            return super()._post(url)
        self.build_params, self.context = params, tarfile.open(fileobj=data).getnames()
        return "response"

    def _stream_helper(self, response, decode=False):
        return iter(self.events)

    def get_archive(self, cid, path):
        body = io.BytesIO()
        with tarfile.open(fileobj=body, mode="w") as tar:
            for name, data in self.files.items():
                member = tarfile.TarInfo(name)
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
        return [body.getvalue()], {}

    def remove_container(self, cid, **kwargs):
        self.removed_containers.append(cid)

    def remove_image(self, name, force=False):
        self.removed_images.append(name)


def podman_building(events, files=None):
    version = {"Components": [{"Name": "Podman Engine"}]}
    return Engine(SimpleNamespace(api=BuildApi(events, files or {}), version=lambda: version))


def test_a_pass_on_podman_is_built_by_buildah_without_network_and_its_results_copied_out(tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    podman = podman_building([{"stream": "STEP 1/1"}], {"/plan.json": b"{}", "/delta-layer.tar": b"x"})
    assert podman.export_build(context, context / "out") == []
    api = podman.client.api
    assert api.context == ["Dockerfile"]
    params = api.build_params
    # Buildah's network disabled (no /etc/hosts left), nothing cached or kept but the results.
    assert (params["networkmode"], params["layers"], params["nocache"]) == ("1", "0", "1")
    assert sorted(p.name for p in (context / "out").iterdir()) == ["delta-layer.tar", "plan.json"]
    assert api.removed_containers == ["c1"] and api.removed_images == [params["t"]]


def test_a_failed_pass_on_podman_says_why_and_leaves_no_image(tmp_path):
    podman = podman_building([{"stream": "STEP 1/1"}, {"error": "mount: image not known\n"}])
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert podman.export_build(tmp_path, tmp_path / "out") == ["Podman's build: mount: image not known"]
    api = podman.client.api
    assert api.removed_images == [api.build_params["t"]] and api.removed_containers == []
