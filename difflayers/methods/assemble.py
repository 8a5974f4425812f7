"""The layer method: OLD's layers + one assembled layer + NEW's config, loaded.

Nothing runs inside OLD (no shell, no ``rm`` needed: removals are
whiteouts) and the config is NEW's own, so this works for distroless and
``FROM scratch`` images and for config NEW dropped, which the Dockerfile
method cannot express. OLD is not exported: the archive handed to
``docker load`` holds only the new layer (see ``loadarchive``).
"""

from dataclasses import dataclass
from pathlib import Path

from difflayers.archives.delta import clean_member
from difflayers.archives.layer import LayerStats, ancestor_names, write_layer
from difflayers.archives.loadarchive import uncompressed_descriptor, write_load_archive, write_oci_archive
from difflayers.core.chain import next_chain, with_labels
from difflayers.core.diffrecord import DiffRecord
from difflayers.core.digests import sha256_digest
from difflayers.core.imageconfig import config_bytes, history_from_engine, processed_config
from difflayers.core.mediatypes import OCI_MANIFEST
from difflayers.core.outputs import atomic_file
from difflayers.core.reference import full_name
from difflayers.errors import EngineError
from difflayers.methods import Method

LAYER_NAME = "delta-layer.tar"
CONFIG_NAME = "image-config.json"
LOAD_ARCHIVE = "processed-image.tar"


@dataclass
class Assembled:
    image_id: str
    config: bytes
    layer: LayerStats | None
    layer_path: Path | None


@dataclass(frozen=True)
class OldManifest:
    """OLD's manifest as a registry or the engine holds it: its type and layer descriptors."""

    media_type: str
    layers: list


def assemble(
    engine,
    record: DiffRecord,
    plan,
    output_dir: Path,
    tag: str,
    old_history=None,
    old_manifest=None,
    in_pass=None,
) -> Assembled:
    """Write the layer, config and load archive into ``output_dir``, load the
    image as ``tag`` and return what was made.

    ``old_history`` is OLD's config history when known exactly (from the
    registry); otherwise it is rebuilt from the engine's history endpoint.
    ``old_manifest`` (an ``OldManifest``) is OLD's manifest from the registry
    when pushing; on containerd's store the load needs it, and without one it
    is read from the engine. ``in_pass`` (``comparing.inpass.InPass``): the
    layer was written in the differ's pass; else NEW's tree is streamed here.
    """
    output_dir = Path(output_dir)
    path, old_ref, new_ref = record.path, record.old.ref, record.new.ref
    old, new = engine.inspect_image(old_ref), engine.inspect_image(new_ref)
    old_diff_ids = old["RootFS"]["Layers"]
    stats = layer_path = None
    diff_ids = list(old_diff_ids)
    if in_pass is not None and in_pass.mode == "layer" and not plan.is_empty:
        layer_path, stats = in_pass.layer, in_pass.layer_stats
        diff_ids.append(stats.diff_id)
    elif not plan.is_empty:
        layer_path = output_dir / LAYER_NAME
        stats = write_layer(
            lambda: engine.tree_archive(new_ref, path),
            layer_path,
            tree_path=path,
            plan=plan,
            ancestors=ancestor_headers(engine, new_ref, path),
        )
        diff_ids.append(stats.diff_id)
    if old_history is None:
        old_history = history_from_engine(engine.history(old["Id"]), len(old_diff_ids))
    created_by = f"difflayers: {path} of {new['Id'][:19]} on {old['Id'][:19]}"
    chain = next_chain(
        old,
        record.new.id,
        record.superseded_bytes,
        stats.content_bytes if stats else 0,
        Method.LAYER.layers_added(bool(plan.additions), bool(plan.removals)),
    )
    new = {**new, "Config": with_labels(new.get("Config") or {}, chain.labels())}
    config = processed_config(new, old_history, old_diff_ids, stats.diff_id if stats else None, created_by)
    data = config_bytes(config)
    if engine.store == "containerd" and old_manifest is None:
        media_type, manifest = engine.image_manifest(old)
        old_manifest = OldManifest(media_type, manifest["layers"])
    image_id = load(engine, output_dir, data, layer_path, diff_ids, old_manifest, tag)
    return Assembled(image_id, data, stats, layer_path)


def load(engine, output_dir: Path, config: bytes, layer_path, diff_ids: list, old_manifest, tag: str) -> str:
    """OLD's layers (already in the engine) + ``layer_path`` (None: no layer)
    with ``config``, loaded as ``tag`` from an archive that holds only the new
    layer (``loadarchive``); its image ID. ``diff_ids``: every layer's, the new
    one last; ``old_manifest`` (``OldManifest``): OLD's layer descriptors,
    which containerd's store needs (Podman's is made from ``diff_ids``)."""
    with atomic_file(output_dir / CONFIG_NAME) as handle:
        handle.write(config)
    archive = output_dir / LOAD_ARCHIVE
    if engine.is_podman:
        # Podman's storage finds OLD's layers by their uncompressed digests
        # (diff IDs) before it reads a blob, so they are listed, not included.
        # Its image ID is the config's digest, as on moby's classic store.
        old_ids = diff_ids[:-1] if layer_path is not None else diff_ids
        write_oci_archive(
            archive,
            config=config,
            layer=layer_path,
            base_layers=[uncompressed_descriptor(diff_id) for diff_id in old_ids],
            manifest_type=OCI_MANIFEST,
            name=full_name(tag),
        )
        image_id = sha256_digest(config)
    elif engine.store == "containerd":
        # On this store an image's ID is its manifest's digest.
        image_id = write_oci_archive(
            archive,
            config=config,
            layer=layer_path,
            base_layers=old_manifest.layers,
            manifest_type=old_manifest.media_type,
            name=full_name(tag),
        )
    else:
        image_id = write_load_archive(archive, config=config, layer=layer_path, diff_ids=diff_ids, tag=tag)
    engine.load(archive, f"the processed image {tag}")
    loaded = engine.inspect_image(tag)["Id"]
    if loaded != image_id:
        raise EngineError(f"the engine loaded {loaded[:19]} as {tag}, not the assembled {image_id[:19]}")
    return image_id


def ancestor_headers(engine, image: str, path: str) -> list:
    """NEW's directories above ``path``, as layer entries with NEW's owner and mode."""
    headers = []
    for ancestor in ancestor_names(path):
        header = engine.entry_header(image, ancestor)
        rel = ancestor.lstrip("/")
        clean_member(header, "", rel, None)
        headers.append(header)
    return headers
