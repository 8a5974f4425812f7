"""The archives ``docker load`` reads, holding only the delta layer.

Two layouts, for three image stores:

- moby's classic store: ``docker save``'s legacy layout, ``manifest.json``,
  the config as ``<id>.json``, each layer as ``<diff id>/layer.tar``. OLD's
  layers are named but not included: the store finds a layer by its chain ID
  and loads only the ones it lacks.
- containerd's store: an OCI image layout (``oci-layout``, ``index.json``,
  ``blobs/``) whose manifest lists OLD's layers by OLD's own descriptors. The
  content store accepts blobs it already has being left out (moby#46746), and
  the unpacker finds OLD's snapshots by chain ID.
- Podman (containers/image into containers/storage): the same OCI layout,
  OLD's layers listed by their diff IDs as uncompressed blobs, left out: the
  storage reuses a layer it has by that digest before it asks for the blob.
  (Its ``docker-archive`` reader wants every layer: podman#8132.)

In each, OLD is never exported and nothing of it is re-sent.
"""

import hashlib
import io
import json
import tarfile
from pathlib import Path

from difflayers.core.digests import sha256_digest
from difflayers.core.mediatypes import CONFIG_TYPE, OCI_INDEX, OCI_MANIFEST, UNCOMPRESSED_LAYER_TYPE
from difflayers.core.outputs import atomic_file


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_load_archive(dest: Path, *, config: bytes, layer, diff_ids: list, tag: str) -> str:
    """Write the archive to ``dest``; return the image ID it loads as.

    ``diff_ids`` are all the image's layers; the last one is ``layer`` (a
    path), unless ``layer`` is None: then all are OLD's.
    """
    image_id = hashlib.sha256(config).hexdigest()
    layer_paths = [f"{diff_id.split(':', 1)[1]}/layer.tar" for diff_id in diff_ids]
    manifest = [{"Config": f"{image_id}.json", "RepoTags": [tag], "Layers": layer_paths}]
    with (
        atomic_file(dest) as handle,
        tarfile.open(fileobj=handle, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add_bytes(tar, f"{image_id}.json", config)
        if layer is not None:
            info = tarfile.TarInfo(layer_paths[-1])
            info.size = Path(layer).stat().st_size
            info.mode = 0o644
            with open(layer, "rb") as source:
                tar.addfile(info, source)
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return f"sha256:{image_id}"


def uncompressed_descriptor(diff_id: str) -> dict:
    """A layer already in the store, named by its uncompressed digest for an
    OCI manifest whose blob is left out. Its size is not known without reading
    the layer; Podman's reuse by digest does not read it (0, tested on 4.3)."""
    return {"mediaType": UNCOMPRESSED_LAYER_TYPE[OCI_MANIFEST], "digest": diff_id, "size": 0}


def write_oci_archive(
    dest: Path, *, config: bytes, layer, base_layers: list, manifest_type: str, name: str
) -> str:
    """Write an OCI layout archive to ``dest``; return its manifest's digest,
    which is the image's ID in containerd's store.

    ``base_layers`` are OLD's layer descriptors, as OLD's manifest lists them;
    ``layer`` (a path, or None) is the delta, listed after them, uncompressed.
    ``name`` is the full reference the image gets (``docker.io/library/app:2``).
    """
    blobs = {}

    def blob(data: bytes) -> dict:
        digest = sha256_digest(data)
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    layers = [dict(descriptor) for descriptor in base_layers]
    if layer is not None:
        digest = hashlib.sha256()
        with open(layer, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        layers.append(
            {
                "mediaType": UNCOMPRESSED_LAYER_TYPE[manifest_type],
                "digest": "sha256:" + digest.hexdigest(),
                "size": Path(layer).stat().st_size,
            }
        )
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": CONFIG_TYPE[manifest_type], **blob(config)},
        "layers": layers,
    }
    manifest_descriptor = blob(json.dumps(manifest, separators=(",", ":")).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": manifest_type,
                **manifest_descriptor,
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name},
            }
        ],
    }
    with (
        atomic_file(dest) as handle,
        tarfile.open(fileobj=handle, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in sorted(blobs.items()):
            _add_bytes(tar, "blobs/sha256/" + digest.split(":", 1)[1], data)
        if layer is not None:
            info = tarfile.TarInfo("blobs/sha256/" + layers[-1]["digest"].split(":", 1)[1])
            info.size = layers[-1]["size"]
            info.mode = 0o644
            with open(layer, "rb") as source:
                tar.addfile(info, source)
        _add_bytes(tar, "index.json", json.dumps(index, separators=(",", ":")).encode())
    return manifest_descriptor["digest"]
