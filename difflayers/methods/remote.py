"""optimize where OLD is only in the registry: never pulled, NEW read once.

What the diff needs of OLD is its tree index (``core.treeindex``), kept in
the registry beside it (``methods.indexartifact``). The steps, each small:

1. read OLD's manifest and config (kilobytes) and its tree index, or build
   the index from OLD's layers once (``methods.oldtree``); prove the layers
   the two images do not share change nothing outside the path;
2. stream NEW's tree from the engine once through the index differ
   (``comparing.indexdiff``): the plan, the changed entries spooled, NEW's index;
3. write the layer from the spool, and check it without OLD: applied to OLD's
   index it must give NEW's (``comparing.indexcheck``);
4. push: OLD's layers mounted, the layer and config uploaded, the manifest,
   then NEW's index referring to it, so the next revision can do the same.

The processed image is not loaded into the engine (its lower layers are
OLD's, which the engine does not have): it is in the registry only.

The same flow serves ``optimize --push`` with OLD in the engine when OLD's
index is beside it in the registry (``LocalOld``, from ``pipeline``): OLD's
tree is then that index too, so only NEW is read, and the image made is
loaded into the engine as well.
"""

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from difflayers.adapters.engine import TOOL_IMAGE, Engine, refuse_stand_ins
from difflayers.adapters.registry import Registry, registry_of
from difflayers.archives.layer import write_layer
from difflayers.comparing import indexpass, mounts
from difflayers.comparing.indexcheck import layer_differences, tree_differences
from difflayers.comparing.indexdiff import NEW_INDEX_NAME, diff_stream
from difflayers.comparing.inpass import outside_refusal
from difflayers.comparing.madeindex import made_index
from difflayers.core import breakdown, indexdelta, treeindex
from difflayers.core.chain import Decision, DecisionKind, Policy, next_chain, read_chain, with_labels
from difflayers.core.chain import summary as chain_summary
from difflayers.core.diffrecord import DiffRecord, ImageRef
from difflayers.core.imageconfig import config_bytes, processed_config
from difflayers.core.names import check_tree_path, escaped_text, under_any
from difflayers.core.reference import Reference, parse_reference
from difflayers.core.scope import refuse_outside_paths
from difflayers.errors import BadIndex, BadInput, VerificationFailed
from difflayers.figures import shared_layers
from difflayers.methods import Method, indexartifact
from difflayers.methods.assemble import LAYER_NAME, OldManifest, ancestor_headers, load
from difflayers.methods.oldtree import OldIndex, check_scope, old_index, outside_of, scope_known
from difflayers.methods.push import (
    RemoteImage,
    after_the_tag_moved,
    compress,
    push_image,
    read_image,
    tag_last,
)


def wants_registry_old(engine: Engine, old_ref: str, push_to: str | None) -> bool:
    """True when OLD is not in the engine but named in the registry pushed to."""
    return only_in_registry(
        engine, old_ref, push_to, "OLD", "name OLD as it is there (HOST/REPO:TAG), or pull it first"
    )


def only_in_registry(engine: Engine, ref: str, push_to: str | None, role: str, advice: str) -> bool:
    """True when ``ref`` (``role``: OLD or NEW) is not in the engine but named in
    the registry pushed to; refused when it is in neither."""
    if not push_to or engine.has_image(ref):
        return False
    host = parse_reference(push_to).host
    if parse_reference(ref).host != host:
        raise BadInput(
            f"{role} ({ref}) is not in this engine, and not in {host}, the registry pushed to: {advice}"
        )
    return True


@dataclass
class Made:
    """What went to the registry: the push's figures, the manifest pushed (the
    subject of NEW's index), its layers' record for the index header, the layer
    written (None for NEW as built, or no change), the chain it records, and
    the layer's file and the config pushed (a delta only)."""

    pushed: dict
    subject: dict
    image: dict
    stats: object = None
    chain: object = None
    layer: Path | None = None
    config: bytes = b""


@dataclass
class LocalOld:
    """OLD in this engine too, its tree index found beside it in the registry
    pushed to (``pipeline``): OLD's tree is that index, so only NEW is read;
    NEW is compared in place with OLD outside the path where no FROM image
    and OLD's index header prove it; the image made is loaded as ``tag``."""

    ref: str
    registry: Registry
    remote: RemoteImage
    index: OldIndex
    tag: str
    notes: list


def optimize(
    engine: Engine,
    old_ref: str,
    new_ref: str,
    path: str,
    output_dir: Path,
    options,
    progress,
    local: LocalOld | None = None,
) -> dict | None:
    """See the module's docstring; returns the summary ``optimize`` prints.
    With ``local``, None when the chain policy wants a rebase: the engine's
    flow then applies it (it can rebase on the chain's base, which is there)."""
    started = time.monotonic()
    check_tree_path(path, "--path", volume_target=False)
    target, old_name = parse_reference(options.push_to), parse_reference(old_ref)
    new = engine.inspect_image(new_ref)
    engine.require_directory(new_ref, path)
    in_place = indexpass.usable(engine, new_ref, path)
    if not in_place:
        refuse_stand_ins(path, new_ref)  # NEW is read through a container below
    if local is not None:
        registry, remote, index, old_name = local.registry, local.remote, local.index, local.remote.source
    else:
        registry = registry_of(target, options.plain_http, options.certs_d, pull=[old_name], push=[target])
        if options.new_if_no_old and not in_registry(registry, old_name):
            return first_revision(
                engine, registry, old_name, options.push_to, (new_ref, new), path, output_dir, progress
            )
        progress(f"reading OLD's manifest and config from {target.host} (OLD is not in this engine)")
        remote = _read_old(registry, old_name, new)
        index = usable_old_index(registry, remote, path, old_ref, progress)
        if options.verify_full and not index.built:
            index = index_checked_against_layers(registry, remote, index, path, old_ref, progress)
    shared = shared_layers(new, {"RootFS": {"Layers": remote.config["rootfs"]["diff_ids"]}})
    base_ref = indexpass.from_image(engine, new, shared, path) if in_place else None
    old_mount, with_old = None, False  # OLD in the engine, compared in place outside the path
    if local is not None and in_place:
        if base_ref is None:  # NEW compared with OLD itself there
            base_ref, with_old = local.ref, True
        elif not scope_known(index, shared):  # OLD and NEW each compared with their FROM image
            old_mount = local.ref
    scope = check_scope(
        engine,
        registry,
        new,
        remote,
        index,
        path,
        new_side=base_ref is None,
        old_side=not (with_old or old_mount),
    )
    found, made_layer, outside = _diff_new(
        engine, new_ref, path, index, output_dir, options, in_place, (base_ref, old_mount, with_old), progress
    )
    if base_ref is not None and outside is None:  # NEW was streamed instead: its layers read after all
        scope, with_old = check_scope(engine, registry, new, remote, index, path), False
    refusal = outside_refusal(outside, path) if outside is not None else None
    if refusal:
        raise BadInput(refusal)
    refuse_outside_paths(options.paths, found.plan)
    plan = found.plan
    new_index = found.new_index.read_bytes()
    progress(f"found {plan.created} new, {plan.changed} changed, {len(plan.removals)} removed")
    if found.superseded_bytes is not None:  # counted in the pass, beside both indexes
        superseded, tree_bytes = found.superseded_bytes, found.tree_bytes
    else:  # NEW's index read as needed: a tree is never held
        superseded, tree_bytes = superseded_bytes(index.entries, treeindex.streamed(new_index, path), plan)
    if scope["naive_bytes"] is None:
        scope["naive_bytes"] = tree_bytes  # NEW's own layers add only the path: proven in the pass
    old_like = {
        "Id": remote.config_digest,
        "Config": remote.config.get("config") or {},
        "RootFS": {"Layers": remote.config["rootfs"]["diff_ids"]},
    }
    decision = chain_decision(options.policy, old_like, superseded, tree_bytes)
    if local is not None and decision.kind is not DecisionKind.DELTA:
        progress("the chain policy says rebase: the engine's flow applies it")
        return None
    if decision.kind is DecisionKind.REBASE_NEW:
        progress("the chain policy says rebase: " + "; ".join(decision.reasons))
        pushed, subject = _push_as_built(engine, registry, target, new, options.push_to, progress)
        image = {"layers": len(new["RootFS"]["Layers"]), "path_only_from": scope["shared_layers"]}
        made = Made(pushed, subject, image, chain=read_chain(new))
    else:
        layer, stats = made_layer or _layer(engine, new_ref, path, found, output_dir)
        check_layer(index.data, layer, new_index, plan, path, output_dir)
        new_index = made_index(index.data, new_index, layer, path)  # the image pushed, as it is
        index.entries = {}  # looked up no more: its bytes (index.data) are what is pushed
        chain = next_chain(
            old_like, new["Id"], superseded, stats.content_bytes if stats else 0, 1 if stats else 0
        )
        made = push_delta(registry, target, remote, new, layer, stats, chain, path, progress, untagged=True)
        made.image["path_only_from"] = index.path_only_from
    if with_old:
        # NEW equals OLD outside the path, and so does the image made: OLD's record holds for it.
        if index.outside_as is not None:
            made.image["outside_as_layers"] = index.outside_as
    elif scope["shared_layers"]:
        # Both sides' own layers proven to change nothing outside the path
        # (``check_scope``): the image made is its first ``shared`` layers there.
        made.image["outside_as_layers"] = scope["shared_layers"]
    old_index_bytes = len(index.data)
    rebased = decision.kind is DecisionKind.REBASE_NEW
    with after_the_tag_moved(options.push_to, path) if rebased else contextlib.nullcontext():
        old_attached, new_attached = _attach_indexes(
            registry, old_name, remote, index, scope, path, target, made, new_index, progress
        )
    # A delta (with ``local``, a rebase went to the engine's flow): loaded here
    # too, then the registry's tag; a failure puts the engine's tag back.
    tagged_here = engine.tag_put_back_on_failure(local.tag) if local else contextlib.nullcontext()
    with tagged_here:
        if local is not None:
            _load_here(engine, local, remote, made, output_dir, progress)
        if decision.kind is DecisionKind.DELTA:
            tag_last(registry, target, made.subject)  # pushed by digest: the tag moves last
    record = DiffRecord(
        path,
        ImageRef(old_ref, remote.digest),
        ImageRef(new_ref, new["Id"]),
        causes=found.causes,
        bytecode_sources={
            escaped_text(pyc): [escaped_text(source), size]
            for pyc, (source, size) in found.bytecode_sources.items()
        },
    )
    stats, delta = made.stats, decision.kind is DecisionKind.DELTA
    return {
        "tag": local.tag if local else options.push_to,
        "method": Method.LAYER.value if delta else Method.NEW_AS_BUILT.value,
        "compared": "tree index",
        "new": plan.created,
        "changed": plan.changed,
        "removed": len(plan.removals),
        "delta_bytes": stats.size if stats else 0,
        "layers_added": 1 if stats and delta else 0,
        "bytes_added": stats.content_bytes if stats else 0,
        "new_tree_bytes": tree_bytes,
        "verified": delta,
        "check": "construction" if delta else None,
        "equality": "the layer applied to OLD's tree index equals NEW's tree index"
        + ("" if index.built else f"; {TRUSTED_INDEX}"),
        # Where OLD's tree came from: its layers (read this run), or its index
        # found in the registry, which the result then rests on.
        "old_tree": "layers" if index.built else "registry index",
        "equivalent_bytecode": len(plan.kept_from_old),
        "old_in_engine": local is not None,
        **({"notes": local.notes} if local else {}),
        "old_index": {
            "built": index.built,
            "bytes": old_index_bytes,
            "layer_bytes_read": index.layer_bytes_read,
            "pushed": old_attached["digest"] if old_attached else None,
            "bytes_sent": old_attached["bytes_sent"] if old_attached else 0,
        },
        "new_index": {
            "bytes": new_attached["bytes"],
            "pushed": new_attached["digest"],
            "bytes_sent": new_attached["bytes_sent"],
            "parts": new_attached["parts"],
        },
        **scope,
        "new_bytes_read": found.new_bytes_read,
        "new_reads": 1 if found.spool_complete else 2,
        "new_read_from": "mounts" if made_layer is not None else "archive",
        "registry_bytes_downloaded": registry.received,
        "by_cause": breakdown.as_json(breakdown.rows(record, plan)),
        "chain": chain_summary(decision, made.chain, made.image["layers"]),
        **made.pushed,
        "seconds": round(time.monotonic() - started, 1),
    }


def _load_here(engine: Engine, local: LocalOld, remote, made: Made, output_dir: Path, progress) -> None:
    """The image pushed, loaded into the engine as ``local.tag`` (OLD's layers
    are there: the archive holds the new layer only, ``assemble.load``)."""
    progress(f"loading it into this engine as {local.tag} (OLD's layers are here)")
    diff_ids = [*remote.config["rootfs"]["diff_ids"], *([made.stats.diff_id] if made.stats else [])]
    manifest = OldManifest(remote.manifest_type, remote.layers)
    load(engine, output_dir, made.config, made.layer, diff_ids, manifest, local.tag)


def _diff_new(
    engine: Engine, new_ref: str, path: str, index, output_dir: Path, options, in_place, compared, progress
):
    """(``IndexDiff``, (layer, stats) or None, NEW against ``base_ref`` outside
    the path or None): NEW's tree read once against OLD's index, mounted in
    place where BuildKit is (``comparing.indexpass``: the layer is written in
    the same pass, and NEW compared with its FROM image outside the path),
    else streamed from the engine's archive endpoint (the layer is written
    from the spool later). ``compared``: (``base_ref``, OLD's ref or None: OLD
    compared with ``base_ref`` too, whether ``base_ref`` is OLD itself)."""
    base_ref, old_mount, base_is_old = compared
    if in_place:
        engine.ensure_tool_image(progress)
        progress(
            f"comparing {path} of {new_ref}, mounted in place, with OLD's index ({engine.mounting_builder})"
        )
        try:
            found, layer, stats, outside = indexpass.diff_in_place(
                engine,
                TOOL_IMAGE,
                new_ref,
                path,
                index.data,
                output_dir,
                options.byte_exact,
                base_ref,
                old_mount,
                base_is_old,
            )
            return found, (layer, stats), outside
        except mounts.Unavailable as exc:
            mounts.fall_back(engine, exc, progress, "streaming NEW instead")
            refuse_stand_ins(path, new_ref)
    progress(f"streaming {path} of {new_ref} once against OLD's index")
    with engine.tree_archive(new_ref, path) as source:
        return diff_stream(source, path, index.entries, output_dir, options.byte_exact), None, None


def _read_old(registry: Registry, old_name: Reference, new: dict):
    """OLD's manifest (for NEW's platform) and config; refused when of another platform."""
    remote = read_image(registry, old_name, (new["Os"], new["Architecture"]))
    platform = (remote.config.get("os"), remote.config.get("architecture"))
    if platform != (new["Os"], new["Architecture"]):
        shown = "/".join(map(str, platform))
        raise BadInput(f"OLD is {shown}, NEW {new['Os']}/{new['Architecture']}: no delta between them")
    return remote


def usable_old_index(registry: Registry, remote, path: str, old_ref: str, progress):
    """OLD's index (``methods.oldtree``); a bad one is refused with the way to rebuild it."""
    try:
        return old_index(registry, remote, path, progress)
    except BadIndex as exc:
        raise BadIndex(
            f"{exc}; it is not used. To build OLD's index again from its layers: "
            f"difflayers index {old_ref} --path {path} --push --rebuild"
        ) from None


TRUSTED_INDEX = (
    "OLD's tree is its index found in the registry (bound to OLD's layers, not read from them): "
    "whoever can write it can move OLD's tag too; --verify full reads OLD's layers"
)


def index_checked_against_layers(registry: Registry, remote, index, path: str, old_ref: str, progress):
    """``--verify full``: OLD's index built anew from OLD's layers, and the one
    found compared with it: an index that lies stops the run, nothing pushed."""
    progress("--verify full: reading OLD's layers to check the tree index found beside it")
    rebuilt = old_index(registry, remote, path, progress, rebuild=True)
    lies = tree_differences(index.entries, rebuilt.entries, only=("not in the index", "not in OLD"))
    if lies:
        shown = "".join(f"\n  {line}" for line in lies[:10])
        raise VerificationFailed(
            f"the tree index found beside {old_ref} does not describe OLD's layers ({len(lies)} "
            f"differences), so nothing was pushed:{shown}\nReplace it: "
            f"difflayers index {old_ref} --path {path} --push --rebuild"
        )
    return rebuilt


def check_layer(old: bytes, layer, new: bytes, plan, path: str, output_dir: Path) -> None:
    """Verification without OLD (``comparing.indexcheck``): nothing is pushed otherwise."""
    differences = layer_differences(old, layer, new, plan, path)
    if differences:
        shown = "".join(f"\n  {line}" for line in differences[:10])
        raise VerificationFailed(
            f"the layer applied to OLD's tree index does not give NEW's ({len(differences)} "
            f"differences), so nothing was pushed:{shown}\nThe files are in {output_dir}"
        )


def push_delta(
    registry: Registry, target, remote, new: dict, layer, stats, chain, path, progress, untagged=False
) -> Made:
    """OLD's layers (mounted) + the layer, with NEW's config and the chain record."""
    new_config = {**new, "Config": with_labels(new.get("Config") or {}, chain.labels())}
    created_by = f"difflayers: {path} of {new['Id'][:19]} on {remote.digest[:19]}"
    old_diff_ids = remote.config["rootfs"]["diff_ids"]
    diff_id = stats.diff_id if stats else None
    config = config_bytes(
        processed_config(new_config, remote.config.get("history"), old_diff_ids, diff_id, created_by)
    )
    where = f"{target.host}/{target.repository}" if untagged else str(target)
    progress(f"pushing {where}: OLD's layers mounted, the delta uploaded")
    blob = compress(layer, layer.with_name(layer.name + ".gz")) if layer else None
    pushed = push_image(registry, target, remote, config, blob, progress, untagged)
    image = {"layers": len(remote.layers) + (1 if stats else 0)}
    return Made(pushed, pushed.pop("manifest"), image, stats, chain, layer, config)


def in_registry(registry: Registry, ref: Reference) -> bool:
    return registry.manifest(ref.repository, ref.digest or ref.tag or "latest", missing_ok=True) is not None


def first_revision(
    engine: Engine, registry, old: Reference, push_to: str, named: tuple, path, output_dir: Path, progress
) -> dict:
    """No OLD yet: NEW as built is pushed by the engine, with its tree index and
    the record of which of its layers change only ``path`` (read from the
    engine once, names only), so the next revision needs neither OLD nor its
    layers. ``named``: NEW's name and inspect; read by its name, NEW is mounted
    in place where BuildKit is (an image ID cannot be)."""
    (new_ref, new), started, target = named, time.monotonic(), parse_reference(push_to)
    progress(f"{target.host} has no {old}: pushing NEW as built, the chain's first revision")
    outside = outside_of(path)
    layers = new["RootFS"]["Layers"]
    found, read = engine.layer_names(new["Id"], layers, outside)
    touched = [number for number, diff_id in enumerate(layers, start=1) if found[diff_id][1]]
    image = {"layers": len(layers), "path_only_from": max(touched, default=0)}
    pushed, subject = _push_as_built(engine, registry, target, new, push_to, progress)
    progress("pushing NEW's tree index beside it")
    with after_the_tag_moved(push_to, path):
        new_index, entries, tree_read, read_from = attach_tree_index(
            engine,
            registry,
            target.repository,
            new_ref,
            path,
            subject,
            output_dir,
            image,
            progress=progress,
        )
    naive = sum(content for content, _ in found.values())
    return {
        "tag": push_to,
        "method": Method.NEW_AS_BUILT.value,
        "compared": "tree index",
        "new": entries,
        "changed": 0,
        "removed": 0,
        "delta_bytes": 0,
        "layers_added": len(layers),
        "bytes_added": naive,
        "naive_bytes": naive,
        "verified": True,
        "equality": "NEW as built",
        "equivalent_bytecode": 0,
        "old_in_engine": False,
        "old_index": {"built": False, "bytes": 0, "layer_bytes_read": 0, "pushed": None},
        "new_index": new_index,
        "shared_layers": 0,
        "new_layer_bytes_read": read,
        "old_layer_bytes_read": 0,
        "new_bytes_read": tree_read,
        "new_reads": 1,
        "new_read_from": read_from,
        "registry_bytes_downloaded": registry.received,
        "by_cause": [],
        "chain": chain_summary(
            Decision(DecisionKind.FIRST, [f"no {old} in the registry yet"]), read_chain(new), len(layers)
        ),
        **pushed,
        "seconds": round(time.monotonic() - started, 1),
    }


def _attach_indexes(registry, old_name, remote, index, scope, path, target, made, new_index, progress):
    """OLD's index beside OLD where this run built it or learnt of its layers,
    then NEW's beside the image made, a delta on OLD's where small: (OLD's
    attachment or None, NEW's)."""
    old_attached, base = None, index.artifact
    if index.built or scope["old_layer_bytes_read"]:
        progress("pushing OLD's tree index beside OLD, with what this run learnt of its layers")
        learnt = {"layers": len(remote.layers), "path_only_from": index.path_only_from}
        if scope["shared_layers"]:
            learnt["outside_as_layers"] = scope["shared_layers"]
        old_attached = indexartifact.attach(
            registry, old_name.repository, remote.descriptor, index.data, path, index.artifact, learnt
        )
        base = old_attached["artifact"]
        index.data = None  # its copy bound to OLD's layers (base.data) is the one kept
    progress("pushing NEW's tree index beside it" + (", a delta on OLD's where small" if base else ""))
    new_attached = indexartifact.attach(
        registry, target.repository, made.subject, new_index, path, base, made.image
    )
    return old_attached, new_attached


def _push_as_built(engine: Engine, registry: Registry, target: Reference, new: dict, push_to: str, progress):
    """NEW as built, tagged and pushed by the engine (its layers are new to the
    chain): the push's figures, and the manifest pushed."""
    progress(f"pushing NEW as built to {push_to} with the engine")
    engine.publish(new["Id"], push_to)
    pushed = push_with_engine(engine, registry, target, push_to)
    return pushed, pushed.pop("manifest")


def push_with_engine(engine: Engine, registry: Registry, target: Reference, tag: str) -> dict:
    """``docker push`` of ``tag``, and the manifest the registry then holds (the
    subject of the image's tree index), in the figures a direct push reports."""
    engine.push(tag)
    media_type, body, digest = registry.manifest(target.repository, target.tag or "latest")
    return {
        "pushed": tag,
        "layers_mounted": 0,
        "layers_copied": 0,
        "bytes_copied": 0,
        "bytes_uploaded": None,
        "manifest": {"mediaType": media_type, "digest": digest, "size": len(body)},
    }


def attach_tree_index(
    engine: Engine,
    registry,
    repository,
    image_ref,
    path,
    subject,
    output_dir,
    image=None,
    data=None,
    base=None,
    progress=lambda _: None,
):
    """Index ``path`` of a local image (streamed once) and attach the index to
    ``subject`` (a manifest descriptor) in the registry, with ``image``, the
    layers' record, in its header when known: (the summary's figures, entries,
    bytes read, where it was read or None). ``data``: the index already made (in the differ's pass), not
    read again; ``base``: the ``Artifact`` it follows (``indexartifact.attach``)."""
    entries = read = 0
    where = None
    if data is None:
        dest = output_dir / NEW_INDEX_NAME
        entries, read, where, _ = indexpass.tree_index(engine, TOOL_IMAGE, image_ref, path, dest, progress)
        data = dest.read_bytes()
    attached = indexartifact.attach(registry, repository, subject, data, path, base, image)
    figures = {
        "bytes": attached["bytes"],
        "pushed": attached["digest"],
        "bytes_sent": attached["bytes_sent"],
        "parts": attached["parts"],
    }
    return figures, entries, read, where


def old_artifact(registry, remote, path: str, old_index: bytes | None):
    """OLD's index artifact in the registry when it holds the entries of
    ``old_index`` (OLD's index made in this run): NEW's index is then attached
    as a delta on it, and nothing of it is downloaded (its manifest only)."""
    if old_index is None or remote is None:
        return None
    try:
        found = indexartifact.listed(registry, remote.source.repository, remote.digest, path)
    except BadIndex:
        return None  # a bad one is not built on; NEW's index goes whole
    if found is None or found.entries != indexdelta.entries_digest(old_index):
        return None
    found.data = old_index
    return found


def _layer(engine: Engine, new_ref: str, path: str, found, output_dir: Path) -> tuple:
    """The layer from the spool; NEW is read again only when a hardlink needs
    a file the spool does not hold (an unchanged file newly linked)."""
    if found.plan.is_empty:
        return None, None
    if found.spool_complete:
        source = lambda: open(found.spool, "rb")  # noqa: E731
    else:
        source = lambda: engine.tree_archive(new_ref, path)  # noqa: E731
    layer = output_dir / LAYER_NAME
    ancestors = ancestor_headers(engine, new_ref, path)
    stats = write_layer(source, layer, tree_path=path, plan=found.plan, ancestors=ancestors)
    found.spool.unlink(missing_ok=True)
    return layer, stats


def superseded_bytes(old: dict, new, plan) -> tuple:
    """Bytes of OLD's files the delta replaces or removes (a hardlink group once),
    and NEW's tree bytes: what the chain policy weighs. ``new``: NEW's index
    entries, held or ``treeindex.streamed``."""
    replaced, removed = set(plan.additions) - plan.new_paths, set(plan.removals)

    def gone(name):
        return name in replaced or under_any(name, removed)

    def total(entries, wanted) -> int:
        seen, count = set(), 0  # hardlink groups counted
        for entry in entries:
            if (
                entry.kind == treeindex.FILE
                and wanted(entry.name)
                and (not entry.group or entry.group not in seen)
            ):
                seen.add(entry.group) if entry.group else None
                count += entry.size
        return count

    return total(old.values(), gone), total(
        new.values() if isinstance(new, Mapping) else new, lambda name: True
    )


def chain_decision(policy: Policy, old_like: dict, superseded: int, tree_bytes: int) -> Decision:
    """The chain policy (``core.chain``), on what the registry says of OLD."""
    chain = read_chain(old_like)
    layers_after = len(old_like["RootFS"]["Layers"]) + 1
    if chain.depth == 0:
        reasons = policy.layer_reasons(layers_after)
    else:
        reasons = policy.reasons(chain, layers_after, chain.superseded_bytes + superseded, tree_bytes)
    return Decision(DecisionKind.REBASE_NEW, reasons) if reasons else Decision(DecisionKind.DELTA)
