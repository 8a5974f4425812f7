"""optimize a multi-platform NEW: one delta per platform, one index pushed.

OLD and NEW are references in the registry pushed to (NEW at a staging tag,
as ``docker buildx build --platform ... --push`` leaves it); either may be an
index or a single image. No platform's code runs here and nothing enters the
engine: each platform's trees are read from its layers in the registry
(``methods.registrytree``), so any architecture is processed on any machine.

1. both listings read and paired (``core.platforms``): every refusal
   (a platform named but missing, a variant mismatch, a nested index) comes
   before anything is read or pushed;
2. each platform in both: OLD's tree index found or built, the scope proved,
   NEW's tree read once against it, the layer written and checked against
   NEW's index, the chain policy applied; the platform's manifest pushed by
   digest (OLD's layers mounted, the delta uploaded), or NEW's as built;
3. a platform only in NEW (or not selected with ``--platform``): NEW's
   manifest as built, its blobs mounted; only in OLD: dropped, and said so;
4. the index last, under the tag: NEW's, with each platform's manifest
   replaced and NEW's annotations and platform fields kept (attestations of
   NEW as built left out: they describe other manifests); every platform's
   tree index attached to its manifest.
"""

import json
import time
from pathlib import Path

from difflayers.adapters.registry import Registry, registry_of
from difflayers.archives.layer import write_layer
from difflayers.comparing.indexdiff import diff_tree
from difflayers.comparing.madeindex import made_index
from difflayers.core import breakdown, platforms, treeindex
from difflayers.core.chain import DecisionKind, next_chain, read_chain
from difflayers.core.diffrecord import DiffRecord, ImageRef
from difflayers.core.mediatypes import DOCKER_LIST, OCI_INDEX
from difflayers.core.names import check_tree_path
from difflayers.core.platforms import Listing, Platform
from difflayers.core.reference import Reference, parse_reference
from difflayers.core.scope import refuse_outside_paths, require_directories
from difflayers.errors import BadInput, RegistryError
from difflayers.figures import shared_layers
from difflayers.methods import Method, indexartifact
from difflayers.methods.assemble import LAYER_NAME
from difflayers.methods.oldtree import old_scope
from difflayers.methods.push import RemoteImage, carry_blobs, read_image
from difflayers.methods.registrytree import RegistryTree
from difflayers.methods.remote import (
    chain_decision,
    check_layer,
    in_registry,
    only_in_registry,
    push_delta,
    superseded_bytes,
    usable_old_index,
)


def wants_registry_new(engine, new_ref: str, push_to: str | None) -> bool:
    """True when NEW is not in the engine but named in the registry pushed to."""
    advice = "build it, or name it as it is there (HOST/REPO:TAG, e.g. the staging tag buildx pushed)"
    return only_in_registry(engine, new_ref, push_to, "NEW", advice)


class Image:
    """An image in the registry as its platforms: the top manifest (an index,
    or one image's manifest) and its ``Listing``."""

    def __init__(self, registry: Registry, ref: Reference, role: str):
        self.ref, self.name = ref, f"{role} ({ref})"
        found = registry.manifest(ref.repository, ref.digest or ref.tag or "latest", missing_ok=True)
        if found is None:
            raise BadInput(f"{self.name} is not in the registry {ref.host}")
        self.media_type, self.body, self.digest = found
        self.top = json.loads(self.body)
        self.is_index = self.media_type in (OCI_INDEX, DOCKER_LIST)
        if self.is_index:
            self.listing = platforms.listing(self.top, self.name)
        else:
            config = json.loads(registry.blob(ref.repository, self.top["config"]["digest"]))
            descriptor = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.body)}
            self.listing = Listing({Platform.of(config).normalized(): descriptor})

    def remote(self, registry: Registry, platform: Platform) -> RemoteImage:
        """One platform's manifest and config."""
        digest = self.listing.manifests[platform]["digest"]
        ref = Reference(self.ref.host, self.ref.repository, "", digest)
        image = read_image(registry, ref, (platform.os, platform.architecture))
        if Platform.of(image.config).normalized() != platform:
            raise BadInput(
                f"{self.name}: the manifest listed for {platform} is of {Platform.of(image.config)}"
            )
        return image


def inspect_like(image: RemoteImage) -> dict:
    """An image config from the registry in the engine's inspect form, which
    the chain and config code read (``core.chain``, ``core.imageconfig``)."""
    config = image.config
    return {
        "Id": image.config_digest,
        "Architecture": config.get("architecture"),
        "Os": config.get("os"),
        "Variant": config.get("variant"),
        "Author": config.get("author"),
        "Created": config.get("created"),
        "Config": config.get("config") or {},
        "RootFS": {"Layers": config["rootfs"]["diff_ids"]},
    }


def optimize(old_ref: str, new_ref: str, path: str, output_dir: Path, options, progress) -> dict:
    """See the module's docstring; returns the summary ``optimize`` prints."""
    started = time.monotonic()
    check_tree_path(path, "--path", volume_target=False)
    target, old_name, new_name = map(parse_reference, (options.push_to, old_ref, new_ref))
    registry = registry_of(
        target, options.plain_http, options.certs_d, pull=[old_name, new_name], push=[target]
    )
    progress(f"reading the platforms of OLD and NEW in {target.host}")
    new = Image(registry, new_name, "NEW")
    selected = [Platform.parse(text) for text in options.platforms] if options.platforms else None
    # --new-if-no-old: no OLD yet, every platform as built (the chain's first revision).
    first = options.new_if_no_old and not in_registry(registry, old_name)
    old = None if first else Image(registry, old_name, "OLD")
    old_listing, old_label = (Listing(), f"OLD ({old_name})") if first else (old.listing, old.name)
    pairing = platforms.pair(old_listing, new.listing, selected, old_label, new.name)
    results = {}
    for platform in pairing.both:
        progress(f"{platform}: OLD + a delta")
        results[platform] = _delta(registry, target, old, new, platform, path, output_dir, options, progress)
    for platform in pairing.new_only + pairing.not_selected:
        why = "not selected" if platform in pairing.not_selected else "only in NEW"
        why = f"no {old_name} in the registry yet" if first else why
        progress(f"{platform}: {why}, NEW's manifest as built")
        results[platform] = _as_built(registry, target, new, platform, path, output_dir, why)
    for platform in pairing.old_only:
        progress(f"{platform}: only in OLD, dropped (NEW has no such image)")
    pushed = _push_top(registry, target, new, results)
    figures = [_platform_figures(platform, results[platform]) for platform in sorted(results)]
    return {
        "tag": options.push_to,
        "compared": "tree index",
        "multi_platform": True,
        "pushed": pushed,
        "platforms": figures,
        "dropped": [str(p) for p in pairing.old_only],
        "attestations_left_out": len(new.listing.attestations),
        # Over the platforms with a delta: those published as built cost what NEW's own push sent.
        "bytes_uploaded": sum(f["bytes_uploaded"] for f in figures if f["method"] == Method.LAYER.value),
        "bytes_copied": sum(f["bytes_copied"] for f in figures),
        "naive_upload_bytes": sum(
            f["naive_upload_bytes"] for f in figures if f["method"] == Method.LAYER.value
        ),
        "registry_bytes_downloaded": registry.received,
        "verified": all(f["verified"] for f in figures),
        "chain": {
            "decision": _overall(figures),
            "reasons": [f"{f['platform']}: {r}" for f in figures for r in f["chain"]["reasons"]],
        },
        "seconds": round(time.monotonic() - started, 1),
    }


def _overall(figures: list) -> str:
    """The run's decision: a rebase anywhere is reported as one (exit status 3)."""
    decisions = {f["chain"]["decision"] for f in figures}
    rebased = [d for d in decisions if DecisionKind(d).rebased]
    return rebased[0] if rebased else DecisionKind.DELTA.value


def _delta(registry, target, old: Image, new: Image, platform, path, output_dir, options, progress) -> dict:
    """One platform in both: the delta, checked and pushed by digest."""
    work = output_dir / str(platform).replace("/", "-")
    work.mkdir(parents=True, exist_ok=True)
    old_image, new_image = old.remote(registry, platform), new.remote(registry, platform)
    index = usable_old_index(registry, old_image, path, str(old.ref), progress)
    old_like, new_like = inspect_like(old_image), inspect_like(new_image)
    shared = shared_layers(new_like, old_like)
    progress(f"{platform}: reading NEW's {len(new_image.layers)} layers once against OLD's index")
    tree = RegistryTree(registry, new_image, path, index.entries, work)
    if tree.last_outside > shared:
        raise BadInput(
            f"{platform}: NEW's layer {tree.last_outside} (above the {shared} it shares with OLD) "
            f"changes something outside {path}: a delta of {path} cannot make NEW; ship NEW as built"
        )
    old_read = old_scope(registry, old_image, index, shared, path)
    found = diff_tree(tree, index.entries, work, options.byte_exact)
    if not found.spool_complete:  # a file newly hardlinked, unchanged: read NEW again, keeping all
        tree = RegistryTree(registry, new_image, path, index.entries, work, keep_all=True)
        found = diff_tree(tree, index.entries, work, options.byte_exact)
    plan, new_data = found.plan, found.new_index.read_bytes()
    new_entries = treeindex.streamed(new_data, path)
    require_directories(options.paths, new_entries, f"{new.ref} ({platform})")
    refuse_outside_paths(options.paths, plan)
    superseded, tree_bytes = superseded_bytes(index.entries, new_entries, plan)
    decision = chain_decision(options.policy, old_like, superseded, tree_bytes)
    if decision.kind is DecisionKind.REBASE_NEW:
        progress(f"{platform}: the chain policy says rebase: " + "; ".join(decision.reasons))
        made = _carry(registry, target, new, platform, new_image)
        image = {"layers": len(new_image.layers), "path_only_from": tree.last_outside}
        stats, chain = None, read_chain(new_like)
    else:
        layer, stats = None, None
        if not plan.is_empty:
            layer = work / LAYER_NAME
            source = lambda: open(found.spool, "rb")  # noqa: E731
            stats = write_layer(source, layer, tree_path=path, plan=plan, ancestors=tree.ancestors())
        check_layer(index.data, layer, new_data, plan, path, work)
        new_data = made_index(index.data, new_data, layer, path)  # the image pushed, as it is
        chain = next_chain(
            old_like, new_like["Id"], superseded, stats.content_bytes if stats else 0, 1 if stats else 0
        )
        pushed = push_delta(
            registry, target, old_image, new_like, layer, stats, chain, path, progress, untagged=True
        )
        made = {**pushed.pushed, "manifest": pushed.subject}
        image = {
            "layers": len(old_image.layers) + (1 if stats else 0),
            "path_only_from": index.path_only_from,
        }
    base = index.artifact
    if index.built or old_read:
        learnt = {"layers": len(old_image.layers), "path_only_from": index.path_only_from}
        base = indexartifact.attach(
            registry, old.ref.repository, old_image.descriptor, index.data, path, index.artifact, learnt
        )["artifact"]
    attached = indexartifact.attach(
        registry, target.repository, made["manifest"], new_data, path, base, image
    )
    record = DiffRecord(
        path,
        ImageRef(str(old.ref), old_image.digest),
        ImageRef(str(new.ref), new_image.digest),
        causes=found.causes,
    )
    delta = decision.kind is DecisionKind.DELTA
    return {
        "made": made,
        "method": Method.LAYER.value if delta else Method.NEW_AS_BUILT.value,
        "new": plan.created,
        "changed": plan.changed,
        "removed": len(plan.removals),
        "bytes_added": stats.content_bytes if stats and delta else 0,
        "naive_upload_bytes": _naive_upload(new_image, old_image),
        "new_layer_bytes_read": tree.bytes_read,
        "old_index_built": index.built,
        "tree_index_bytes": attached["bytes_sent"],
        "verified": delta,
        "by_cause": breakdown.as_json(breakdown.rows(record, plan)),
        "chain": {"decision": decision.kind.value, "reasons": list(decision.reasons), "depth": chain.depth},
    }


def _naive_upload(new_image: RemoteImage, old_image: RemoteImage) -> int:
    """What pushing NEW as built would upload after OLD: its layers OLD lacks (compressed)."""
    have = {d["digest"] for d in old_image.layers}
    return sum(d["size"] for d in new_image.layers if d["digest"] not in have)


def _carry(registry, target, new: Image, platform, new_image: RemoteImage) -> dict:
    """NEW's manifest for ``platform`` as built, into the target repository."""
    descriptor = new.listing.manifests[platform]
    blobs = [*new_image.layers, {"digest": new_image.config_digest, "size": 0}]
    mounted, copied, copied_bytes = carry_blobs(registry, target.repository, new.ref.repository, blobs)
    _, body, digest = registry.manifest(new.ref.repository, descriptor["digest"])
    registry.put_manifest(target.repository, digest, descriptor["mediaType"], body)
    return {
        "pushed": f"{target.host}/{target.repository}@{digest}",
        "manifest": {"mediaType": descriptor["mediaType"], "digest": digest, "size": len(body)},
        "layers_mounted": mounted,
        "layers_copied": copied,
        "bytes_copied": copied_bytes,
        "bytes_uploaded": 0,
    }


def _as_built(registry, target, new: Image, platform, path, output_dir, why: str) -> dict:
    """A platform published as NEW built it, with its tree index."""
    new_image = new.remote(registry, platform)
    made = _carry(registry, target, new, platform, new_image)
    work = output_dir / str(platform).replace("/", "-")
    work.mkdir(parents=True, exist_ok=True)
    tree = RegistryTree(registry, new_image, path, None, work)
    data = treeindex.to_bytes(path, tree.result, tree.image)
    attached = indexartifact.attach(registry, target.repository, made["manifest"], data, path)
    return {
        "made": made,
        "method": Method.NEW_AS_BUILT.value,
        "new": tree.entries,
        "changed": 0,
        "removed": 0,
        "bytes_added": 0,
        "naive_upload_bytes": sum(d["size"] for d in new_image.layers),
        "new_layer_bytes_read": tree.bytes_read,
        "old_index_built": False,
        "tree_index_bytes": attached["bytes_sent"],
        "verified": True,
        "by_cause": [],
        "chain": {"decision": DecisionKind.FIRST.value, "reasons": [why], "depth": 0},
    }


def _push_top(registry, target, new: Image, results: dict) -> str:
    """NEW's index with each platform's manifest replaced, under the tag (or,
    for a single-platform NEW, that platform's manifest)."""
    if not new.is_index:
        (result,) = results.values()
        manifest = result["made"]["manifest"]
        _, body, _ = registry.manifest(target.repository, manifest["digest"])
        digest = registry.put_manifest(target.repository, target.tag or "latest", manifest["mediaType"], body)
        return f"{target}@{digest}"
    by_digest = {new.listing.manifests[p]["digest"]: r["made"]["manifest"] for p, r in results.items()}
    index = dict(new.top)
    index["manifests"] = [
        {**entry, **by_digest[entry["digest"]]}
        for entry in new.top["manifests"]
        if entry["digest"] in by_digest
    ]
    if len(index["manifests"]) != len(results):
        raise RegistryError(f"{new.name} lists a manifest twice; nothing was tagged")
    body = json.dumps(index, indent=3).encode()
    digest = registry.put_manifest(target.repository, target.tag or "latest", new.media_type, body)
    return f"{target}@{digest}"


def _platform_figures(platform, result: dict) -> dict:
    made = result.pop("made")
    return {
        "platform": str(platform),
        **result,
        "manifest": made["manifest"]["digest"],
        "layers_mounted": made["layers_mounted"],
        "layers_copied": made["layers_copied"],  # where the registry would not mount them
        "bytes_copied": made["bytes_copied"],
        "bytes_uploaded": made["bytes_uploaded"] or 0,
    }
