"""The CLI's pipeline: diff, make, verify (and push), all through the engine API.

Each step is the one the compose path runs (``diffing``, ``steps.generate``,
``steps.verify``); only the plumbing differs: volumes and helper containers
made through the API, results copied out through it, so nothing depends on a
bind mount and a remote engine (DOCKER_HOST) works. Everything a run creates
carries its run label and is removed on success, failure and Ctrl-C.
"""

import os
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import engine, mounts, report
from .assemble import assemble
from .chain import MAX_LAYERS, Chain, Decision, Policy, read_chain
from .config import require_same_platform
from .dockerfile import DELTA_ARCHIVE, DOCKERFILE
from .errors import BadInput, DiffLayersError, NotExpressible
from .names import check_tree_path
from .push import compress, find_old, push_image
from .registry import Registry, parse_reference
from .steps import compare, generate, verify


class VerificationFailed(DiffLayersError):
    """The processed image is not equal to NEW."""

    exit_code = 1


@dataclass
class Progress:
    """Timestamped progress lines on stderr, so stdout stays for results."""

    quiet: bool = False
    started: float = field(default_factory=time.monotonic)

    def __call__(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)


def validate(client, old_ref: str, new_ref: str, path: str) -> dict:
    """Check the inputs before any work: images, platform, the path in both."""
    check_tree_path(path)
    images = {"old": engine.inspect_image(client, old_ref), "new": engine.inspect_image(client, new_ref)}
    if images["old"]["Id"] == images["new"]["Id"]:
        raise BadInput(
            f"OLD and NEW are the same image ({images['old']['Id'][:19]}): there is nothing to ship"
        )
    require_same_platform(images["old"], images["new"])
    for ref in (old_ref, new_ref):
        engine.require_directory(client, ref, path)
    return images


def diff(client, old_ref: str, new_ref: str, path: str, output_dir: Path, progress: Progress):
    """Compare ``path`` of OLD and NEW; write the log and metadata to ``output_dir``."""
    images = validate(client, old_ref, new_ref, path)
    _writable(output_dir)
    engine.ensure_tool_image(client, progress)
    run_id = uuid.uuid4().hex[:12]
    refs = {
        role: {"ref": ref, "id": images[role]["Id"]} for role, ref in (("old", old_ref), ("new", new_ref))
    }
    how = os.environ.get("DIFFLAYERS_COMPARE", "auto")  # auto, mounts or volumes
    if how != "volumes" and mounts.usable(old_ref, new_ref, path):
        progress("comparing the trees with rsync, mounted from the images (BuildKit, no copy)")
        try:
            mounts.compare(engine.TOOL_IMAGE, refs, path, output_dir)
            meta, plan = report.load(output_dir)
            return {**meta, "compared": "mounts"}, plan
        except mounts.Unavailable as exc:
            if how == "mounts":
                raise BadInput(f"BuildKit bind mounts are not available here: {exc}") from None
            progress(f"no BuildKit here ({str(exc)[:100]}); copying instead")
    progress(f"copying {path} of OLD and NEW into fresh volumes")
    try:
        _compare(client, path, refs, run_id, output_dir, progress)
    finally:
        engine.sweep(client, run_id)
    meta, plan = report.load(output_dir)
    return {**meta, "compared": "volumes"}, plan


def _compare(client, path, refs, run_id, output_dir, progress) -> None:
    """Fresh volumes of both trees, the differ container on them, results copied out."""
    images = {role: refs[role]["ref"] for role in ("old", "new")}
    with engine.tree_volumes(client, images, path, run_id) as volumes:
        old_volume, new_volume = volumes["old"], volumes["new"]
        progress("comparing the trees with rsync")
        command = compare.command(path, refs)
        binds = {
            old_volume: {"bind": "/trees/old", "mode": "ro"},
            new_volume: {"bind": "/trees/new", "mode": "ro"},
        }
        with engine.finished_container(client, command, binds, run_id, "differ") as (cid, status, logs):
            if status != 0:
                last = logs.strip().splitlines()[-1] if logs.strip() else f"exit {status}"
                raise BadInput(f"comparing the trees failed: {last.removeprefix('error: ')}")
            engine.copy_out(client, cid, "/out", output_dir)


def _writable(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".difflayers-probe-{uuid.uuid4().hex[:8]}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise BadInput(f"cannot write in the output folder {output_dir}: {exc.strerror}") from None


def layers_above(client, image: str, base: str) -> list:
    """History entries (newest first) that ``image`` has on top of ``base``."""
    history = client.api.history(image)
    base_len = len(client.api.history(base))
    return history[: max(0, len(history) - base_len)]


def chain_figures(client, image_ref: str, new_ref=None) -> dict:
    """The chain ``image_ref`` records (see ``chain``), and what pulls cost.

    A fresh pull fetches every layer, dead bytes included; NEW as built would
    hold the live tree only (exact when ``new_ref`` is given, else estimated
    as the image's bytes less the superseded ones).
    """
    image = engine.inspect_image(client, image_ref)
    chain = read_chain(image)
    fresh_pull = sum(entry["Size"] for entry in client.api.history(image["Id"]))
    if new_ref:
        new_pull = sum(
            entry["Size"] for entry in client.api.history(engine.inspect_image(client, new_ref)["Id"])
        )
    else:
        new_pull = fresh_pull - chain.superseded_bytes
    return {
        "image": image_ref,
        "base": chain.base_id,
        "base_layers": chain.base_layers,
        "depth": chain.depth,
        "layers": len(image["RootFS"]["Layers"]),
        "max_layers": MAX_LAYERS,
        "revisions": [
            {
                "depth": i + 1,
                "new": r.new_id,
                "delta_bytes": r.delta_bytes,
                "superseded_bytes": r.superseded_bytes,
                "layers": r.layers,
            }
            for i, r in enumerate(chain.revisions)
        ],
        "delta_bytes": chain.delta_bytes,
        "superseded_bytes": chain.superseded_bytes,
        "fresh_pull_bytes": fresh_pull,
        "new_as_built_pull_bytes": new_pull,
        "new_as_built_exact": bool(new_ref),
    }


def _shared(image: dict, other: dict) -> int:
    """How many bottom layers two images (inspect data) have in common."""
    layers, others = image["RootFS"]["Layers"], other["RootFS"]["Layers"]
    shared = 0
    while shared < min(len(layers), len(others)) and layers[shared] == others[shared]:
        shared += 1
    return shared


def naive_bytes(client, new_ref: str, old_ref: str) -> int:
    """What pushing NEW as built sends once OLD is in the registry: its layers
    that OLD does not share, sized from NEW's history.

    History entries of size 0 are skipped, whether they made an empty layer
    or none; those add no bytes either way.
    """
    shared = _shared(engine.inspect_image(client, new_ref), engine.inspect_image(client, old_ref))
    sizes = [entry["Size"] for entry in reversed(client.api.history(new_ref)) if entry["Size"] > 0]
    return sum(sizes[shared:])


METHODS = ("auto", "dockerfile", "layer")


@dataclass(frozen=True)
class Options:
    """How ``optimize`` makes and ships the image (the CLI's flags)."""

    method: str = "auto"
    allow_drift: bool = False
    skip_verify: bool = False
    push_to: str | None = None
    plain_http: bool = False
    policy: Policy = field(default_factory=Policy)


@dataclass
class Made:
    """What the build step made: by which method, and the delta's size."""

    method: str
    delta_bytes: int
    assembled: object = None


@dataclass
class Start:
    """What the processed image is made on: OLD, or the chain's base when rebasing."""

    ref: str
    meta: dict
    plan: object
    decision: Decision


def optimize(client, old_ref, new_ref, path, tag, output_dir: Path, options=None, progress=None) -> dict:
    """diff + make (Dockerfile or layer) + verify [+ push]; returns the figures.

    The image is made under a temporary tag, verified against NEW, and only
    then tagged TAG: a failed or interrupted run publishes nothing. When OLD
    is itself processed and the chain policy says stop (see ``chain``), the
    delta is made against the chain's base instead, or NEW is used as built.
    """
    options = options or Options()
    progress = progress or Progress()
    seconds = {}
    clock = time.monotonic()

    def lap(step):
        nonlocal clock
        now = time.monotonic()
        seconds[step] = round(now - clock, 2)
        clock = now

    method, remote, registry, target = options.method, None, None, None
    if options.push_to:
        if method == "dockerfile":
            raise BadInput("--push assembles the layer itself: use it with --method layer (or auto)")
        method = "layer"
        target = parse_reference(options.push_to)
        registry = Registry(target.host, options.plain_http)
    old = engine.inspect_image(client, old_ref)
    if registry is not None:
        progress(f"finding OLD in {target.host}")
        remote = find_old(registry, old, target)
    meta, plan = diff(client, old_ref, new_ref, path, output_dir, progress)
    lap("diff")
    progress(f"found {plan.created} new, {plan.changed} changed, {len(plan.removals)} removed")
    first = Start(old_ref, {**meta, "output": output_dir}, plan, Decision("delta"))
    start = _start(client, options.policy, old, first, output_dir, progress)
    lap("policy")
    if start.decision.kind == "rebase-new":
        progress(f"tagging {new_ref} as {tag}: NEW as built starts a new chain")
        engine.publish(client, new_ref, tag)
        made = Made("none (NEW as built)", 0)
    else:
        if registry is not None and start.ref != old_ref:
            progress(f"finding the chain's base in {target.host}")
            remote = find_old(registry, engine.inspect_image(client, start.ref), target)
        with engine.temporary_tag(client, uuid.uuid4().hex[:12]) as unverified:
            made = _make(client, method, start, unverified, options.allow_drift, remote, progress)
            lap("make")
            if not options.skip_verify:
                progress(f"verifying {tag} against {new_ref}")
                if verify.run(new_ref, unverified, client=client, quiet=True) != 0:
                    raise VerificationFailed(
                        f"the image made by the {made.method} method from {start.meta['output']} differs from "
                        f"{new_ref}, so {tag} was not tagged; keep the files with --output and compare with "
                        "`difflayers verify`"
                    )
                lap("verify")
            engine.publish(client, unverified, tag)
    pushed = {}
    if registry is not None:
        pushed = _push(client, registry, target, tag, remote, made, progress)
        lap("push")
    processed = engine.inspect_image(client, tag)
    naive = naive_bytes(client, new_ref, old_ref)
    if start.decision.kind == "rebase-new":
        # NEW as built, measured like every result: against OLD, which it does not extend.
        layers_added, bytes_added = len(processed["RootFS"]["Layers"]) - _shared(processed, old), naive
    else:
        base_layers = engine.inspect_image(client, start.ref)["RootFS"]["Layers"]
        layers_added = len(processed["RootFS"]["Layers"]) - len(base_layers)
        bytes_added = sum(entry["Size"] for entry in layers_above(client, tag, start.ref))
    return {
        "tag": tag,
        "method": made.method,
        "new": start.plan.created,
        "changed": start.plan.changed,
        "removed": len(start.plan.removals),
        "delta_bytes": made.delta_bytes,
        "compared": meta["compared"],
        "layers_added": layers_added,
        "bytes_added": bytes_added,
        "naive_bytes": naive,
        "verified": not options.skip_verify or start.decision.kind == "rebase-new",
        "chain": _chain_summary(processed, start.decision),
        **pushed,
        "step_seconds": seconds,
        "seconds": round(sum(seconds.values()), 1),
    }


def _start(client, policy, old, start: Start, output_dir: Path, progress) -> Start:
    """Apply the chain policy: keep OLD, or rebase on the chain's base or NEW."""
    chain = read_chain(old)
    meta = start.meta
    layers_after = len(old["RootFS"]["Layers"]) + 2
    if chain.depth == 0:
        # OLD is a full image: this is a chain's first delta, whatever it
        # replaces; only the layer limit can stop it.
        reasons = policy.layer_reasons(layers_after)
    else:
        reasons = policy.reasons(
            chain,
            layers_after,
            chain.superseded_bytes + meta.get("superseded_bytes", 0),
            meta.get("new_tree_bytes", 0),
        )
    if not reasons:
        return start
    progress("the chain policy says rebase: " + "; ".join(reasons))
    base_ref = _local_ref(client, chain.base_id) if chain.depth and policy.rebase_to == "base" else None
    if base_ref is not None:
        base_dir = output_dir / "rebase"
        base_meta, base_plan = diff(client, base_ref, meta["new"]["ref"], meta["path"], base_dir, progress)
        base = Chain(chain.base_id, chain.base_layers)
        # Half the limit for the fresh start: a base delta near the limit
        # would make every next revision rebase (and push it) again.
        margin = replace(policy, max_superseded_share=policy.max_superseded_share / 2)
        again = margin.reasons(
            base,
            base.base_layers + 2,
            base_meta.get("superseded_bytes", 0),
            base_meta.get("new_tree_bytes", 0),
        )
        if not again:
            progress(f"making one delta against the chain's base {base_ref}")
            return Start(
                base_ref, {**base_meta, "output": base_dir}, base_plan, Decision("rebase-base", reasons)
            )
        reasons = [*reasons, "against the chain's base too: " + "; ".join(again)]
    elif policy.rebase_to == "base" and chain.depth:
        reasons = [*reasons, f"the chain's base {chain.base_id[:19]} is not in this engine"]
    return Start(meta["new"]["ref"], meta, start.plan, Decision("rebase-new", reasons))


def _local_ref(client, image_id: str):
    """A name for ``image_id`` in this engine (a tag if it has one), or None."""
    try:
        image = engine.inspect_image(client, image_id)
    except DiffLayersError:
        return None
    return (image.get("RepoTags") or [image["Id"]])[0]


def _shortened(line: str, width: int = 120) -> str:
    # A build step can be long (the chain record's LABEL); the Dockerfile has it whole.
    return line if len(line) <= width else line[: width - 3] + "..."


def _chain_summary(processed: dict, decision: Decision) -> dict:
    chain = read_chain(processed)
    return {
        "decision": decision.kind,
        "reasons": decision.reasons,
        "base": chain.base_id,
        "depth": chain.depth,
        "delta_bytes": chain.delta_bytes,
        "superseded_bytes": chain.superseded_bytes,
        "layers": len(processed["RootFS"]["Layers"]),
    }


def _push(client, registry, target, tag, remote, made, progress) -> dict:
    if made.assembled is None:
        # A rebase on NEW as built: its layers are not OLD's, the engine sends them.
        progress(f"pushing {tag} with the engine (NEW as built: its layers are new to the chain)")
        engine.push(client, tag)
        return {"pushed": tag, "layers_mounted": 0, "bytes_uploaded": None}
    progress(f"pushing {target}: OLD's layers mounted from {remote.source.repository}, the delta uploaded")
    layer = made.assembled.layer_path
    blob = compress(layer, layer.with_name(layer.name + ".gz")) if layer else None
    return push_image(registry, target, remote, made.assembled.config, blob)


def _make(client, method, start: Start, tag, allow_drift, remote, progress) -> Made:
    """Make the processed image as ``tag``: the Dockerfile method where it can
    reproduce NEW (or when asked), else the layer method."""
    output_dir = Path(start.meta["output"])
    if method in ("auto", "dockerfile"):
        try:
            generate.run(
                output_dir, client, allow_drift=allow_drift and method == "dockerfile", quiet=True, environ={}
            )
        except NotExpressible as exc:
            if method == "dockerfile":
                raise
            progress(f"the Dockerfile method cannot: {str(exc).splitlines()[0]}")
        else:
            delta = output_dir / DELTA_ARCHIVE
            files = {
                DOCKERFILE: output_dir / DOCKERFILE,
                **({DELTA_ARCHIVE: delta} if delta.exists() else {}),
            }
            progress("building the Dockerfile")
            engine.build(client, files, tag, progress=lambda line: progress(f"  {_shortened(line)}"))
            return Made("dockerfile", delta.stat().st_size if delta.exists() else 0)
    progress("assembling the layer (whiteouts for removals, NEW's config) and loading it")
    history = remote.config["history"] if remote else None
    assembled = assemble(client, start.meta, start.plan, output_dir, tag, history)
    return Made("layer", assembled.layer.size if assembled.layer else 0, assembled)
