"""The archive ``docker load`` reads, holding only the delta layer.

Layout of ``docker save``: ``manifest.json``, the config as ``<id>.json``,
each layer as ``<diff id>/layer.tar``. OLD's layers are named in the manifest
but not included: moby's image store finds a layer by its chain ID and loads
only the ones it lacks, so OLD is never exported and nothing is re-sent. An
engine that lacks OLD (or uses containerd's image store) refuses the archive
with a clear "no such file" on OLD's first layer.
"""

import hashlib
import io
import json
import tarfile
from pathlib import Path

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
