"""Finding OLD in its registry: by the digest the engine recorded, else (Podman,
which records the digest of the manifest it holds, not of the one it pushed)
by its tag there, and only ever an image that is OLD."""

import hashlib
import json

import pytest

from difflayers.core.mediatypes import DOCKER_MANIFEST
from difflayers.core.reference import parse_reference
from difflayers.errors import RegistryError
from difflayers.methods.push import find_old


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """Manifests by repository and tag or digest, blobs by digest."""

    def __init__(self):
        self.scopes = set()
        self.manifests, self.blobs, self.asked = {}, {}, []

    def put(self, repository, tag, diff_ids):
        config = json.dumps({"rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        self.blobs[_digest(config)] = config
        body = json.dumps(
            {"schemaVersion": 2, "config": {"digest": _digest(config)}, "layers": [{"digest": "sha256:gz"}]}
        ).encode()
        for ref in (tag, _digest(body)):
            self.manifests[(repository, ref)] = (DOCKER_MANIFEST, body, _digest(body))
        return _digest(config)

    def manifest(self, repository, ref, missing_ok=False):
        self.asked.append(ref)
        return self.manifests.get((repository, ref))

    def blob(self, repository, digest):
        return self.blobs[digest]


def _old(image_id, diff_ids, digests=(), tags=()):
    return {
        "Id": image_id,
        "Os": "linux",
        "Architecture": "amd64",
        "RootFS": {"Layers": diff_ids},
        "RepoDigests": list(digests),
        "RepoTags": list(tags),
    }


TARGET = parse_reference("reg.example:5000/app:2")


def test_a_digest_the_registry_lacks_falls_back_to_olds_tag_there():
    registry = Registry()
    config_digest = registry.put("app", "1", ["sha256:a", "sha256:b"])
    local_digest = "reg.example:5000/app@sha256:" + "7" * 64  # Podman's own manifest
    old = _old(config_digest, ["sha256:a", "sha256:b"], [local_digest], ["reg.example:5000/app:1", "app:1"])
    found = find_old(registry, old, TARGET)
    assert found.config_digest == config_digest
    assert registry.asked == ["sha256:" + "7" * 64, "1"]


def test_a_tag_that_names_another_image_is_refused():
    registry = Registry()
    registry.put("app", "1", ["sha256:a", "sha256:other"])
    old = _old("sha256:" + "1" * 64, ["sha256:a", "sha256:b"], tags=["reg.example:5000/app:1"])
    with pytest.raises(RegistryError, match="is not the OLD of this engine"):
        find_old(registry, old, TARGET)


def test_nothing_at_that_host_says_push_old_first():
    old = _old("sha256:" + "1" * 64, ["sha256:a"], tags=["other.example/app:1"])
    with pytest.raises(RegistryError, match="push OLD first"):
        find_old(Registry(), old, TARGET)
