"""Push the processed image straight to the registry OLD lives in.

Three small operations, each checked: find OLD there (its manifest and
config, which must be the local OLD's), compress the delta layer, and put the
image: OLD's blobs mounted, the delta and config uploaded, the manifest last.
"""

import contextlib
import gzip
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from difflayers.adapters.registry import Registry
from difflayers.core.digests import sha256_digest
from difflayers.core.mediatypes import CONFIG_TYPE, DOCKER_LIST, LAYER_TYPE, OCI_INDEX
from difflayers.core.outputs import atomic_file
from difflayers.core.reference import Reference, parse_reference
from difflayers.errors import DiffLayersError, IndexNotAttached, RegistryError


@dataclass(frozen=True)
class RemoteImage:
    """OLD as the registry holds it: ``digest`` and ``size`` are its platform
    manifest's (what a tree index refers to), ``source`` as it was named."""

    source: Reference
    manifest_type: str
    layers: list
    config: dict
    digest: str = ""
    size: int = 0
    config_digest: str = ""

    @property
    def descriptor(self) -> dict:
        return {"mediaType": self.manifest_type, "digest": self.digest, "size": self.size}


def find_old(registry: Registry, old: dict, target: Reference) -> RemoteImage:
    """OLD in ``target``'s registry, found through the digests the engine recorded
    when OLD was pushed or pulled (``RepoDigests``, Docker Hub's without a host);
    same repository preferred. Reading it needs pull access there.

    Podman records the digest of the manifest it holds, not always of the one
    it pushed (it converts an OCI manifest to Docker's on the way), so OLD's
    tags in that registry are asked next. Either way the image found must be
    OLD: its config's digest (or manifest's) is OLD's ID, with OLD's layers."""
    by_digest = [ref for ref in map(parse_reference, old.get("RepoDigests") or []) if ref.host == target.host]
    by_tag = [ref for ref in map(parse_reference, old.get("RepoTags") or []) if ref.host == target.host]
    if not by_digest and not by_tag:
        raise RegistryError(
            f"OLD ({old['Id'][:19]}) has not been pushed to {target.host} from this engine (no RepoDigest "
            f"there); push OLD first: its layers are what the processed image reuses"
        )

    def elsewhere(ref):  # the target's own repository first
        return ref.repository != target.repository

    candidates = sorted(by_digest, key=elsewhere) + sorted(by_tag, key=elsewhere)
    first_error = None
    for source in candidates:
        try:
            remote = read_image(registry, source, (old["Os"], old["Architecture"]))
        except RegistryError as exc:
            first_error = first_error or exc
            continue
        # An image's ID is its config's digest in moby's store and Podman's, its
        # manifest's (or index's) in containerd's: either names what the registry holds.
        same_id = old["Id"] in (remote.config_digest, source.digest)
        if not same_id or remote.config["rootfs"]["diff_ids"] != old["RootFS"]["Layers"]:
            first_error = first_error or RegistryError(
                f"{source} is not the OLD of this engine ({old['Id'][:19]}): push OLD again"
            )
            continue
        return remote
    raise first_error


def read_image(registry: Registry, source: Reference, platform: tuple) -> RemoteImage:
    """An image in the registry (by tag or digest): its manifest for ``platform``
    ((os, architecture)) when the reference is an index, and its config."""
    registry.scopes.add(f"repository:{source.repository}:pull")
    found = registry.manifest(source.repository, source.digest or source.tag or "latest", missing_ok=True)
    if found is None:
        raise RegistryError(f"{source} is not in the registry {source.host}")
    media_type, body, digest = found
    manifest = json.loads(body)
    if media_type in (DOCKER_LIST, OCI_INDEX):
        media_type, body, digest = _platform_manifest(registry, source, manifest, platform)
        manifest = json.loads(body)
    if media_type not in CONFIG_TYPE:
        raise RegistryError(f"{source} is a {media_type or 'manifest of unknown type'}; cannot extend it")
    config = json.loads(registry.blob(source.repository, manifest["config"]["digest"]))
    return RemoteImage(
        source, media_type, manifest["layers"], config, digest, len(body), manifest["config"]["digest"]
    )


def _platform_manifest(registry, source, index, platform) -> tuple:
    for entry in index.get("manifests", []):
        found = entry.get("platform") or {}
        if (found.get("os"), found.get("architecture")) == platform:
            return registry.manifest(source.repository, entry["digest"])
    raise RegistryError(f"{source} has no manifest for {platform[0]}/{platform[1]}")


@dataclass(frozen=True)
class Blob:
    path: Path
    digest: str
    size: int


def compress(layer: Path, dest: Path) -> Blob:
    """gzip the layer as registries store it; fixed header, so the same
    layer gives the same digest on every run."""
    digest = hashlib.sha256()
    with (
        open(layer, "rb") as source,
        atomic_file(dest) as handle,
        gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as packed,
    ):
        shutil.copyfileobj(source, packed, 1 << 20)
    with open(dest, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return Blob(dest, "sha256:" + digest.hexdigest(), dest.stat().st_size)


def push_image(
    registry: Registry,
    target: Reference,
    old: RemoteImage,
    config: bytes,
    layer,
    progress=None,
    untagged: bool = False,
) -> dict:
    """Put OLD's layers (mounted) + ``layer`` (a ``Blob``, or None) + ``config``
    under ``target`` (by digest only when ``untagged``: one platform of an
    index); return the manifest digest and the bytes uploaded.

    A registry that answers a mount with an upload (202) gets the blob copied
    from OLD's repository through this machine instead, counted apart. The
    manifest goes last: a push cut off before it leaves the tag as it was,
    and running it again completes it (blobs already there are skipped).
    """
    repository = target.repository
    mounted, copied_layers, copied = carry_blobs(
        registry, repository, old.source.repository, old.layers, progress
    )
    uploaded = 0
    layers = list(old.layers)
    if layer is not None:
        if not registry.has_blob(repository, layer.digest):
            with open(layer.path, "rb") as handle:
                registry.upload(repository, layer.digest, handle, layer.size, progress)
            uploaded += layer.size
        layers.append(
            {"mediaType": LAYER_TYPE[old.manifest_type], "size": layer.size, "digest": layer.digest}
        )
    config_digest = sha256_digest(config)
    if not registry.has_blob(repository, config_digest):
        registry.upload(repository, config_digest, config, len(config))
        uploaded += len(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": old.manifest_type,
        "config": {"mediaType": CONFIG_TYPE[old.manifest_type], "size": len(config), "digest": config_digest},
        "layers": layers,
    }
    body = json.dumps(manifest, indent=3).encode()
    reference = sha256_digest(body) if untagged else target.tag or "latest"
    digest = registry.put_manifest(repository, reference, old.manifest_type, body)
    return {
        "pushed": f"{target.host}/{repository}@{digest}",
        "manifest": {"mediaType": old.manifest_type, "digest": digest, "size": len(body)},
        "layers_mounted": mounted,
        "layers_copied": copied_layers,
        "bytes_copied": copied,
        "bytes_uploaded": uploaded + len(body),
    }


def tag_last(registry: Registry, target: Reference, manifest: dict) -> None:
    """Put the manifest pushed by digest (``push_image(untagged=True)``) under
    the target's tag: the last step of a push, after the tree index is beside it,
    so a run that fails before leaves the tag where it was (exit 2 says "nothing
    tagged or pushed")."""
    media_type, body, _ = registry.manifest(target.repository, manifest["digest"])
    registry.put_manifest(target.repository, target.tag or "latest", media_type, body)


@contextlib.contextmanager
def after_the_tag_moved(target: str, path: str):
    """For what follows an engine's push (NEW as built: ``docker push`` moves
    the tag at once): a failure there is said as what it is, the image pushed
    and tagged without its tree index (``IndexNotAttached``), not exit 2's
    "nothing tagged or pushed"."""
    try:
        yield
    except IndexNotAttached:
        raise
    except DiffLayersError as exc:
        raise IndexNotAttached(
            f"{target} is pushed and tagged (NEW as built, by the engine), but its tree index was not "
            f"attached: {exc}. The next run builds it from the image's layers once; "
            f"`difflayers index {target} --path {path} --push` attaches it now"
        ) from None


def carry_blobs(registry: Registry, repository: str, source: str, descriptors: list, progress=None) -> tuple:
    """Make the blobs of ``source`` part of ``repository``: mounted, or where
    the registry will not, copied through this machine. (mounted, copied, bytes copied)."""
    mounted = copied = copied_bytes = 0
    for descriptor in descriptors:
        digest = descriptor["digest"]
        if registry.has_blob(repository, digest):
            continue
        upload = registry.mount(repository, digest, source)
        if upload is None:
            mounted += 1
            continue
        if progress:
            progress(f"{registry.host} did not mount {digest[:19]}: copying it from {source}")
        copied_bytes += registry.copy_blob(upload, source, digest, descriptor["size"], repository, progress)
        copied += 1
    return mounted, copied, copied_bytes
