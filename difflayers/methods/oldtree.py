"""What the kit knows of an OLD that is only in the registry: its tree index,
and whether a delta of the compared path can make NEW from it.

The index is found beside OLD (``methods.indexartifact``) or, for an OLD
pushed without one, built from OLD's layers streamed once from the registry
with their whiteouts applied (nothing stored on disk). Its header records
from which layer on OLD changes nothing outside the path; ``check_scope``
needs that to prove the delta is the whole difference.
"""

import contextlib
import gzip
from dataclasses import dataclass

from difflayers.adapters.engine import Engine
from difflayers.adapters.registry import Registry
from difflayers.adapters.streams import Prefixed
from difflayers.archives.tarstream import open_tar
from difflayers.archives.treescan import Overlay, tree_relative
from difflayers.core import treeindex
from difflayers.errors import BadInput
from difflayers.figures import shared_layers
from difflayers.methods import indexartifact
from difflayers.methods.push import RemoteImage


@dataclass
class OldIndex:
    """OLD's tree index, whether this run built it (and what that read), and
    ``path_only_from``: the first of OLD's layers from which none changes
    anything outside the path (None: not known yet)."""

    entries: dict
    data: bytes
    built: bool
    layer_bytes_read: int = 0
    path_only_from: int | None = None
    # Where it was found (None: built here): NEW's index is kept as a delta on it.
    artifact: indexartifact.Artifact | None = None
    # Outside the path OLD's tree is that of its first K layers (None: not known).
    outside_as: int | None = None


@contextlib.contextmanager
def layer_tar(registry: Registry, repository: str, digest: str):
    """A layer blob from the registry as a tar stream (gzip or plain); read to
    its end afterwards, so the registry adapter checks its digest."""
    with registry.blob_stream(repository, digest) as blob:
        head = blob.read(2)
        source = Prefixed(head, blob)
        stream = gzip.GzipFile(fileobj=source, mode="rb") if head == b"\x1f\x8b" else source
        with open_tar(fileobj=stream) as tar:
            yield tar
        while blob.read(1 << 20):
            pass


def old_index(registry: Registry, remote: RemoteImage, path: str, progress, rebuild=False) -> OldIndex:
    """OLD's index from the registry, or built from OLD's layers when it has
    none (or when asked to ``rebuild`` it: one found is then not even read)."""
    found = None if rebuild else found_index(registry, remote, path, progress)
    if found is not None:
        return found
    why = "rebuilding its tree index" if rebuild else f"it has no tree index of {path}: building it"
    progress(f"{remote.source}: {why} from its {len(remote.layers)} layers (paid once)")
    overlay = Overlay(path)
    before = registry.received
    for descriptor in remote.layers:
        with layer_tar(registry, remote.source.repository, descriptor["digest"]) as tar:
            overlay.apply(tar)
    entries = overlay.result()
    overlay_last_outside = overlay.last_outside
    if entries.get(".", None) is None or entries["."].kind != treeindex.DIRECTORY:
        raise BadInput(f"{path} is not a directory in OLD ({remote.source})")
    data = treeindex.to_bytes(path, entries, overlay.image())
    read = registry.received - before
    del overlay, entries
    return OldIndex(treeindex.load(data, path), data, True, read, overlay_last_outside)


def found_index(registry: Registry, remote: RemoteImage, path: str, progress) -> OldIndex | None:
    """OLD's index of ``path`` found beside it in the registry (checked: ``indexartifact.find_artifact``
    raises ``BadIndex``), with what its header knows of OLD's layers; None where it has none."""
    digests = [layer["digest"] for layer in remote.layers]
    found = indexartifact.find_artifact(registry, remote.source.repository, remote.digest, path, digests)
    if found is None:
        return None
    data = found.data
    parts = f", {len(found.parts)} parts" if len(found.parts) > 1 else ""
    progress(f"OLD's tree index found ({len(data):,} bytes{parts})")
    image = treeindex.image_of(data)
    mine = image.get("layers") == len(remote.layers)
    known = image.get("path_only_from") if mine else None
    outside_as = image.get("outside_as_layers") if mine else None
    return OldIndex(treeindex.load(data, path), data, False, 0, known, found, outside_as)


def scope_known(index: OldIndex, shared: int) -> bool:
    """Whether OLD's index header already proves that OLD's layers above the ``shared`` ones change
    nothing outside the path (``old_scope`` then reads none)."""
    return (index.path_only_from is not None and index.path_only_from <= shared) or (
        index.outside_as is not None and index.outside_as == shared
    )


def outside_of(path: str):
    """A test for layer member names that change something outside ``path``
    (the directories above it are taken from NEW by the layer writer)."""
    root = path.strip("/")
    return lambda name: tree_relative(name, root) is None


def check_scope(
    engine: Engine,
    registry: Registry,
    new: dict,
    remote: RemoteImage,
    index: OldIndex,
    path,
    new_side=True,
    old_side=True,
):
    """Prove the delta of ``path`` is the whole difference: the layers NEW does
    not share with OLD, and those OLD does not share with NEW, change nothing
    outside ``path`` (else the image made would not be NEW, and only whole
    images compared with OLD in the engine could tell). NEW's are read from the
    engine (names only), unless ``new_side`` is False (the caller compares NEW
    with its FROM image in place: ``comparing.indexpass``; ``naive_bytes`` is
    then None); OLD's are known from its index's header, or else read from the
    registry once (names only) and recorded in the index, unless ``old_side`` is
    False (OLD is in the engine and the pass compared NEW with it there: both
    sides proven at once)."""
    new_layers = new["RootFS"]["Layers"]
    shared = shared_layers(new, {"RootFS": {"Layers": remote.config["rootfs"]["diff_ids"]}})
    outside = outside_of(path)
    wanted = new_layers[shared:] if new_side else []
    found, new_read = engine.layer_names(new["Id"], wanted, outside)
    for diff_id in wanted:
        _, names = found[diff_id]
        if names:
            raise BadInput(
                f"NEW's layer {diff_id[:19]} (above the {shared} it shares with OLD) changes "
                f"{names[0]!r}, outside {path}: a delta of {path} cannot make NEW. Pull OLD into "
                "this engine (then whole images are compared), or ship NEW as built"
            )
    return {
        "shared_layers": shared,
        "new_layer_bytes_read": new_read,
        "old_layer_bytes_read": old_scope(registry, remote, index, shared, path) if old_side else 0,
        # What NEW as built adds once OLD is in the registry (as ``figures.naive_bytes``).
        "naive_bytes": sum(content for content, _ in found.values()) if new_side else None,
    }


def old_scope(registry: Registry, remote: RemoteImage, index: OldIndex, shared: int, path: str) -> int:
    """Prove OLD's layers above the ``shared`` ones change nothing outside
    ``path``: known from its index's header, else read from the registry once
    (names only) and recorded in ``index``. Returns the bytes read."""
    if scope_known(index, shared):
        return 0  # e.g. OLD is its first ``shared`` layers outside the path: proven when it was made
    outside = outside_of(path)
    before = registry.received
    for number, descriptor in enumerate(remote.layers[shared:], start=shared + 1):
        with layer_tar(registry, remote.source.repository, descriptor["digest"]) as tar:
            changed = next((m.name for m in tar if outside(m.name)), None)
        if changed is not None:
            raise BadInput(
                f"OLD's layer {number} (above the {shared} it shares with NEW) changes {changed!r}, "
                f"outside {path}: a delta of {path} on OLD cannot make NEW; ship NEW as built"
            )
    index.path_only_from = shared
    return registry.received - before
