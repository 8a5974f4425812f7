"""The CLI's flow: diff, make, verify (and push), all through the engine API.

Each step is the one the compose path runs (``comparing.record``,
``methods.generate``, ``comparing.equality``); only the plumbing differs:
volumes and helper containers made through the ``Engine``, results copied out
through it, so nothing depends on a bind mount and a remote engine
(DOCKER_HOST) works. Everything a run creates carries its run label and is
removed on success, failure and Ctrl-C. Functions here return data; the CLI
prints it.
"""

import contextlib
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from difflayers.adapters.engine import TOOL_IMAGE, Engine
from difflayers.adapters.registry import registry_of
from difflayers.comparing import construction, difflog, indexpass, initlayer, inpass, mounts
from difflayers.comparing.container import compare_in_volumes
from difflayers.comparing.equality import compare_images, equality_checked
from difflayers.comparing.inpass import InPass, outside_refusal
from difflayers.comparing.madeindex import made_index
from difflayers.core import breakdown
from difflayers.core.chain import Chain, Decision, DecisionKind, Policy, read_chain
from difflayers.core.chain import summary as chain_summary
from difflayers.core.configdelta import require_same_platform
from difflayers.core.diffrecord import DiffRecord, ImageRef
from difflayers.core.names import check_tree_path
from difflayers.core.plan import Plan
from difflayers.core.reference import check_tag_reference, names_a_host, parse_reference
from difflayers.core.scope import Paths, refuse_outside_paths
from difflayers.errors import BadIndex, BadInput, DiffLayersError, NotExpressible, VerificationFailed
from difflayers.figures import naive_bytes, shared_layers
from difflayers.methods import Method, multiplatform
from difflayers.methods import remote as registry_old
from difflayers.methods.assemble import LOAD_ARCHIVE, OldManifest, assemble
from difflayers.methods.dockerfile import DELTA_ARCHIVE, DOCKERFILE
from difflayers.methods.generate import generate
from difflayers.methods.oldtree import found_index
from difflayers.methods.push import after_the_tag_moved, compress, find_old, push_image, tag_last


@dataclass
class Progress:
    """Timestamped progress lines on stderr, so stdout stays for results."""

    quiet: bool = False
    started: float = field(default_factory=time.monotonic)

    def __call__(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)


def validate(engine: Engine, old_ref: str, new_ref: str, path: str) -> dict:
    """Check the inputs before any work: images, platform, the path in both."""
    check_tree_path(path, "--path", volume_target=False)
    images = {"old": engine.inspect_image(old_ref), "new": engine.inspect_image(new_ref)}
    if images["old"]["Id"] == images["new"]["Id"]:
        raise BadInput(
            f"OLD and NEW are the same image ({images['old']['Id'][:19]}): there is nothing to ship"
        )
    require_same_platform(images["old"], images["new"])
    for ref in (old_ref, new_ref):
        engine.require_directory(ref, path)
    return images


def require_paths(engine: Engine, new_ref: str, paths: Paths | None) -> None:
    """Each of several paths is a directory in NEW (OLD may lack one: a cache
    folder made first by this build), so a mistyped one is not silently empty."""
    for member in paths.members if paths else ():
        engine.require_directory(new_ref, member)


@dataclass
class Diff:
    """A diff made: the differ's record and plan, how the trees were exposed, and where its files are."""

    record: DiffRecord
    plan: Plan
    compared: str  # "mounts" (BuildKit, in place) or "volumes" (copies)
    output_dir: Path
    # Ship byte-code that is only equivalent to OLD's (see core/bytecode.py).
    byte_exact: bool = False
    # What the differ's pass made for the method: delta.tar, or the layer and its check (mounts only).
    in_pass: InPass | None = None


def diff(
    engine: Engine,
    old_ref: str,
    new_ref: str,
    path: str,
    output_dir: Path,
    progress,
    byte_exact=False,
    in_pass: str | None = None,
    base_ref: str | None = None,
) -> Diff:
    """Compare ``path`` of OLD and NEW; write the log and record to ``output_dir``.
    ``in_pass`` ("delta", "layer"): where the trees are compared in place, the
    same pass writes what that method needs (``comparing.inpass``); ``base_ref``:
    the image both were built FROM, compared with NEW outside the path there."""
    images = validate(engine, old_ref, new_ref, path)
    _writable(output_dir)
    engine.ensure_tool_image(progress)
    old, new = ImageRef(old_ref, images["old"]["Id"]), ImageRef(new_ref, images["new"]["Id"])
    if engine.compare != "volumes" and mounts.usable(old_ref, new_ref, path):
        how = "both hashed" if in_pass == "layer" else "with rsync"  # ``comparing.inpass``
        progress(f"comparing the trees ({how}), mounted from the images ({engine.mounting_builder}, no copy)")
        try:
            InPass.clear(output_dir)
            mounts.compare(engine, TOOL_IMAGE, old, new, path, output_dir, in_pass, byte_exact, base_ref)
            made = InPass.found_in(output_dir) if in_pass else None
            return Diff(*difflog.load(output_dir, byte_exact), "mounts", output_dir, byte_exact, made)
        except mounts.Unavailable as exc:
            mounts.fall_back(engine, exc, progress, "copying instead")
    check_tree_path(path, "--path", volume_target=True)
    progress(f"copying {path} of OLD and NEW into fresh volumes")
    compare_in_volumes(engine, path, old, new, output_dir, progress)
    return Diff(*difflog.load(output_dir, byte_exact), "volumes", output_dir, byte_exact)


def _writable(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".difflayers-probe-{uuid.uuid4().hex[:8]}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise BadInput(f"cannot write in the output folder {output_dir}: {exc.strerror}") from None


@dataclass(frozen=True)
class Options:
    """How ``optimize`` makes and ships the image (the CLI's flags)."""

    method: Method = Method.AUTO
    allow_drift: bool = False
    skip_verify: bool = False
    push_to: str | None = None
    plain_http: bool = False
    policy: Policy = field(default_factory=Policy)
    byte_exact: bool = False
    certs_d: str | None = None  # registry CAs, as /etc/docker/certs.d (settings.Environment)
    new_if_no_old: bool = False  # no OLD anywhere: push NEW as built (methods.remote.first_revision)
    verify_full: bool = False  # compare both images whole even where the check by construction applies
    platforms: list = field(default_factory=list)  # of a multi-platform NEW (methods.multiplatform)
    paths: Paths | None = None  # several --path: their union, compared under ``path`` (core.scope)


@dataclass
class Made:
    """What the build step made: by which method, and the delta's size."""

    method: Method
    delta_bytes: int  # the size of what was written: delta.tar, or the layer's tar
    content_bytes: int  # the file content in it: what the image's new layers hold
    assembled: object = None
    warnings: list = field(default_factory=list)


@dataclass
class Start:
    """What the processed image is made on: OLD, or the chain's base when rebasing."""

    ref: str
    diff: Diff
    decision: Decision


def optimize(
    engine: Engine, old_ref, new_ref, path, tag, output_dir: Path, options=None, progress=None
) -> dict:
    """diff + make (Dockerfile or layer) + verify [+ push]; returns the figures.

    The image is made under a temporary tag, verified against NEW, and only
    then tagged TAG: a failed or interrupted run publishes nothing. When OLD
    is itself processed and the chain policy says stop (see ``chain``), the
    delta is made against the chain's base instead, or NEW is used as built.
    """
    options = options or Options()
    progress = progress or Progress()
    seconds = {}
    started = clock = time.monotonic()

    def lap(step):
        nonlocal clock
        now = time.monotonic()
        seconds[step] = round(now - clock, 2)
        clock = now

    check_tag_reference(tag, "-t")
    if multiplatform.wants_registry_new(engine, new_ref, options.push_to):
        _check_registry_only(tag, options, "NEW")
        return multiplatform.optimize(old_ref, new_ref, path, output_dir, options, progress)
    require_paths(engine, new_ref, options.paths)
    if options.platforms:
        raise BadInput(
            "--platform picks platforms of a NEW in the registry (a multi-platform image); "
            f"{new_ref} is in this engine, one platform"
        )
    if registry_old.wants_registry_old(engine, old_ref, options.push_to):
        _check_registry_only(tag, options, "OLD")
        return registry_old.optimize(engine, old_ref, new_ref, path, output_dir, options, progress)
    method, remote, registry, target = options.method, None, None, None
    if options.push_to:
        if method is Method.DOCKERFILE:
            raise BadInput("--push assembles the layer itself: use it with --method layer (or auto)")
        method = Method.LAYER
        target = parse_reference(options.push_to)
        registry = registry_of(target, options.plain_http, options.certs_d, push=[target])
    old = engine.inspect_image(old_ref)
    new_id = engine.inspect_image(new_ref)["Id"]
    notes = _moved_tags(engine, tag, {"OLD": old["Id"], "NEW": new_id})
    if registry is not None:
        progress(f"finding OLD in {target.host}")
        remote = find_old(registry, old, target)
        named = (old_ref, new_ref, path, tag)
        local = _old_from_its_index(engine, registry, remote, named, notes, options, progress)
        if local is not None:
            summary = registry_old.optimize(
                engine, old_ref, new_ref, path, output_dir, options, progress, local
            )
            if summary is not None:
                return summary
    in_pass = "layer" if method is Method.LAYER else "delta"
    base = _from_image(engine, old, engine.inspect_image(new_ref)) if registry is not None else None
    found = diff(engine, old_ref, new_ref, path, output_dir, progress, options.byte_exact, in_pass, base)
    lap("diff")
    if found.in_pass is not None:
        if found.in_pass.mode == "layer":  # NEW's tree indexed in place (the delta mode keeps none)
            initlayer.refuse_leftovers(found.in_pass.folder / inpass.NEW_INDEX, path, new_ref)
        refused = outside_refusal(found.in_pass.outside, path)
        if refused:
            raise BadInput(refused)
    refuse_outside_paths(options.paths, found.plan)
    plan = found.plan
    progress(f"found {plan.created} new, {plan.changed} changed, {len(plan.removals)} removed")
    start = _start(
        engine, options.policy, method, old, Start(old_ref, found, Decision(DecisionKind.DELTA)), progress
    )
    lap("policy")
    # Images by ID from here on: TAG may be OLD's or NEW's own tag, which moves.
    start_id = engine.inspect_image(start.ref)["Id"]
    compared = None
    pushed = {}
    # A push refused after the tag was put takes the tag back (exit 2: nothing tagged).
    with engine.tag_put_back_on_failure(tag):
        if start.decision.kind is DecisionKind.REBASE_NEW:
            progress(f"tagging {new_ref} as {tag}: NEW as built starts a new chain")
            engine.publish(new_id, tag)
            made = Made(Method.NEW_AS_BUILT, 0, 0)
        else:
            if registry is not None and start.ref != old_ref:
                progress(f"finding the chain's base in {target.host}")
                remote = find_old(registry, engine.inspect_image(start.ref), target)
            with engine.temporary_tag(uuid.uuid4().hex[:12]) as unverified:
                made = _make(engine, method, start, unverified, options, remote, progress)
                lap("make")
                if not options.skip_verify:
                    compared = _verify(
                        engine, start.diff, made, new_ref, new_id, unverified, options, progress
                    )
                    if not compared.equal:
                        raise VerificationFailed(
                            _verification_failure(made.method, compared, new_ref, tag, start)
                        )
                    lap("verify")
                engine.publish(unverified, tag)
        if registry is not None:
            pushed = _push(
                engine, registry, target, tag, remote, made, progress, new_ref, start.diff, output_dir
            )
            lap("push")
    processed = engine.inspect_image(tag)
    naive = _naive_bytes(engine, found, path, new_id, old)
    if start.decision.kind is DecisionKind.REBASE_NEW:
        # NEW as built, measured like every result: against OLD, which it does not extend.
        layers_added, bytes_added = len(processed["RootFS"]["Layers"]) - shared_layers(processed, old), naive
    else:
        base_layers = engine.inspect_image(start_id)["RootFS"]["Layers"]
        layers_added = len(processed["RootFS"]["Layers"]) - len(base_layers)
        # The file content of the layers made: a RUN rm layer holds none, the
        # ADD layer or the assembled one what the delta holds.
        bytes_added = made.content_bytes
    return {
        "tag": tag,
        "method": made.method.value,
        "new": start.diff.plan.created,
        "changed": start.diff.plan.changed,
        "removed": len(start.diff.plan.removals),
        "delta_bytes": made.delta_bytes,
        "compared": found.compared,
        "layers_added": layers_added,
        "bytes_added": bytes_added,
        "naive_bytes": naive,
        "verified": not options.skip_verify or start.decision.kind is DecisionKind.REBASE_NEW,
        "check": compared.check if compared else None,
        "equality": equality_checked(options.byte_exact)
        + (f"; {construction.describe(path)}" if compared and compared.check == construction.CHECK else ""),
        "equivalent_bytecode": len(compared.equivalent) if compared else 0,
        "by_cause": breakdown.as_json(breakdown.rows(start.diff.record, start.diff.plan)),
        "warnings": made.warnings,
        "notes": notes,
        "chain": _chain_summary(processed, start.decision),
        **pushed,
        "step_seconds": seconds,
        "seconds": round(time.monotonic() - started, 1),
    }


def _old_from_its_index(engine: Engine, registry, remote, named: tuple, notes, options: Options, progress):
    """With ``--push``, OLD's tree index beside it in the registry stands for
    OLD's tree, as where OLD is only there (``methods.remote``): NEW alone is
    read in place, half of what the two-tree pass reads. A ``LocalOld``, or
    None where that does not apply (no index of the path there, or a bad one;
    ``--verify full``; the whole image; no BuildKit): the two-tree flow runs."""
    old_ref, new_ref, path, tag = named
    if options.verify_full or path == "/" or not indexpass.usable(engine, new_ref, path):
        return None
    if not mounts.usable(old_ref, new_ref, path):
        return None
    validate(engine, old_ref, new_ref, path)
    try:
        index = found_index(registry, remote, path, progress)
    except BadIndex as exc:
        progress(f"OLD's tree index is not used ({exc}): reading OLD in place")
        return None
    if index is None:
        return None
    return registry_old.LocalOld(old_ref, registry, remote, index, tag, notes)


def _as_pulled(engine: Engine, image: dict, options: Options, progress):
    """``image`` as the registry it was pulled from (or pushed to) holds it, the
    same digest, or None. On containerd's store the engine gives an image's
    manifest, which the load of the image made needs, only inside ``docker
    save`` (``Engine.image_manifest``): read up to the image's size, 18 s of a
    1 GiB OLD here. Its registry answers in kilobytes; asked once, no retries.
    Only names with a registry host are asked: this store gives every image
    built here a digest under its own name (``app@sha256:...``, Docker Hub's
    by the grammar), and a local image's name is not sent to Docker Hub."""
    for text in image.get("RepoDigests") or []:
        if not names_a_host(text):
            continue
        ref = parse_reference(text)
        try:
            registry = registry_of(ref, options.plain_http, options.certs_d, pull=[ref], attempts=1)
            found = find_old(registry, image, ref)
            progress(f"its manifest read from {ref.host}, where it was pushed or pulled")
            return found
        except (DiffLayersError, OSError, ValueError) as exc:
            progress(f"not read from {ref.host} ({str(exc).splitlines()[0][:120]}): asking the engine")
    return None


def _naive_bytes(engine: Engine, found: Diff, path: str, new_id: str, old: dict) -> int:
    """What NEW as built adds: the content of its layers OLD lacks. The differ's
    pass knows NEW's files under the path, which are those (reading the layers
    would take as long as a push of NEW), but for the whole image (``/``, and
    a union compared there) on a base NEW shares with OLD: its files are not
    NEW's to push, so NEW's own layers are read."""
    if found.in_pass and (path != "/" or not shared_layers(engine.inspect_image(new_id), old)):
        return found.record.new_tree_bytes
    return naive_bytes(engine, new_id, old["Id"])


def _verify(engine: Engine, diff: Diff, made: Made, new_ref, new_id, unverified, options, progress):
    """By construction where the layer was made in the differ's pass, else
    (or with ``--verify full``) both images compared whole."""
    by_construction = diff.in_pass is not None and diff.in_pass.mode == "layer"
    if made.method is Method.LAYER and by_construction and not options.verify_full:
        progress(f"checking the image by construction against {new_ref} (--verify full reads both images)")
        return construction.check(engine, diff, new_id, unverified)
    progress(f"verifying the image against {new_ref}, both read whole")
    return compare_images(engine, new_id, unverified, byte_exact=options.byte_exact)


def _check_registry_only(tag: str, options: Options, role: str) -> None:
    """Flags that cannot apply when ``role`` is not in the engine."""
    if tag != options.push_to:
        raise BadInput(
            f"{role} is not in this engine, so the processed image cannot be loaded here: it is pushed to "
            f"{options.push_to} only; leave out -t {tag}"
        )
    if options.method is Method.DOCKERFILE:
        raise BadInput(
            f"{role} is not in this engine: the Dockerfile method needs it; use --method layer (or auto)"
        )


def _moved_tags(engine: Engine, tag: str, images: dict) -> list:
    """Say so when TAG is now OLD's or NEW's own tag: it will name the processed image."""
    try:
        current = engine.inspect_image(tag)["Id"]
    except DiffLayersError:
        return []
    return [
        f"{tag} was {role}'s tag; it now names the processed image ({role} stays as {image_id[:19]})"
        for role, image_id in images.items()
        if image_id == current
    ]


SHOWN_DIFFERENCES = 10


def _verification_failure(method: Method, compared, new_ref: str, tag: str, start: Start) -> str:
    """What differs (the first lines), what was compared, and where the files are."""
    lines = compared.config + compared.tree
    shown = "".join(f"\n  {line}" for line in lines[:SHOWN_DIFFERENCES])
    more = f"\n  ... and {len(lines) - SHOWN_DIFFERENCES} more" if len(lines) > SHOWN_DIFFERENCES else ""
    remake = (
        f"`docker build {start.diff.output_dir}`"
        if method is Method.DOCKERFILE
        else f"`docker load -i {start.diff.output_dir / LOAD_ARCHIVE}`"
    )
    return (
        f"the image made by the {method.value} method differs from {new_ref} ({compared.scope} and the "
        f"runtime config were compared), so {tag} was not tagged; {len(lines)} differences:{shown}{more}\n"
        f"The files it was made from are kept in {start.diff.output_dir}: {remake} makes it again, "
        f"and `difflayers verify {new_ref} IMAGE` compares it"
    )


def _start(engine: Engine, policy: Policy, method: Method, old: dict, start: Start, progress) -> Start:
    """Apply the chain policy: keep OLD, or rebase on the chain's base or NEW."""
    chain = read_chain(old)
    found = start.diff
    plan = found.plan
    layers_after = len(old["RootFS"]["Layers"]) + method.layers_added(
        bool(plan.additions), bool(plan.removals)
    )
    if chain.depth == 0:
        # OLD is a full image: this is a chain's first delta, whatever it
        # replaces; only the layer limit can stop it.
        reasons = policy.layer_reasons(layers_after)
    else:
        reasons = policy.reasons(
            chain,
            layers_after,
            chain.superseded_bytes + found.record.superseded_bytes,
            found.record.new_tree_bytes,
        )
    if not reasons:
        return start
    progress("the chain policy says rebase: " + "; ".join(reasons))
    base_ref = _local_ref(engine, chain.base_id) if chain.depth and policy.rebase_to == "base" else None
    if base_ref is not None:
        base_dir = found.output_dir / "rebase"
        base = diff(
            engine,
            base_ref,
            found.record.new.ref,
            found.record.path,
            base_dir,
            progress,
            found.byte_exact,
            found.in_pass.mode if found.in_pass else None,
        )
        fresh = Chain(chain.base_id, chain.base_layers)
        # Half the limit for the fresh start: a base delta near the limit
        # would make every next revision rebase (and push it) again.
        margin = replace(policy, max_superseded_share=policy.max_superseded_share / 2)
        again = margin.reasons(
            fresh,
            fresh.base_layers + method.layers_added(bool(base.plan.additions), bool(base.plan.removals)),
            base.record.superseded_bytes,
            base.record.new_tree_bytes,
        )
        if not again:
            progress(f"making one delta against the chain's base {base_ref}")
            return Start(base_ref, base, Decision(DecisionKind.REBASE_BASE, reasons))
        reasons = [*reasons, "against the chain's base too: " + "; ".join(again)]
    elif policy.rebase_to == "base" and chain.depth:
        reasons = [*reasons, f"the chain's base {chain.base_id[:19]} is not in this engine"]
    return Start(found.record.new.ref, found, Decision(DecisionKind.REBASE_NEW, reasons))


def _local_ref(engine: Engine, image_id: str):
    """A name for ``image_id`` in this engine (a tag if it has one), or None."""
    try:
        image = engine.inspect_image(image_id)
    except DiffLayersError:
        return None
    return (image.get("RepoTags") or [image["Id"]])[0]


def _shortened(line: str, width: int = 120) -> str:
    # A build step can be long (the chain record's LABEL); the Dockerfile has it whole.
    return line if len(line) <= width else line[: width - 3] + "..."


def _chain_summary(processed: dict, decision: Decision) -> dict:
    return chain_summary(decision, read_chain(processed), len(processed["RootFS"]["Layers"]))


def _from_image(engine: Engine, old: dict, new: dict) -> str | None:
    """The image OLD and NEW were both built FROM (their shared bottom layers),
    when the engine still has it under a tag: compared with NEW outside the path
    in the differ's pass, so the index pushed records it (``outside_as_layers``)
    and the next revision, run where OLD is not, need not read OLD's layers."""
    shared = shared_layers(old, new)
    if not 0 < shared < len(old["RootFS"]["Layers"]):
        return None
    return engine.image_with_layers(old["RootFS"]["Layers"][:shared])


def _index_record(engine: Engine, diff: Diff, remote, made: Made) -> dict | None:
    """The image record of the index pushed beside the image made: its layers,
    and ``outside_as_layers`` when the pass found NEW equal to its FROM image
    outside the path (OLD equal to NEW there too: the check by construction)."""
    if (
        diff.in_pass is None
        or diff.in_pass.mode != "layer"
        or diff.in_pass.outside.get("base_differences") != 0
    ):
        return None
    new = engine.inspect_image(diff.record.new.id)
    shared = shared_layers(engine.inspect_image(diff.record.old.id), new)
    if made.assembled is None:
        layers = len(new["RootFS"]["Layers"])  # NEW as built
    else:
        layers = len(remote.layers) + (1 if made.assembled.layer_path else 0)
    return {"layers": layers, "path_only_from": None, "outside_as_layers": shared}


def _pushed_index(diff: Diff, made: Made) -> bytes | None:
    """The index of the image pushed, where the pass made both indexes: NEW's
    as built for NEW as built; for OLD + the layer, OLD's rows where the layer
    leaves OLD's entry (``comparing.madeindex``). None: read NEW anew."""
    found = diff.in_pass
    if found is None or found.new_index is None:
        return None
    if made.assembled is None or found.mode != "layer" or found.old_index is None:
        return found.new_index
    return made_index(found.old_index, found.new_index, made.assembled.layer_path, diff.record.path)


def _push(
    engine: Engine, registry, target, tag, remote, made: Made, progress, new_ref, diff: Diff, output_dir
) -> dict:
    """Push the image made; then NEW's tree index beside it (``diff``: the
    diff it was made from, whose pass may hold that index already)."""
    if made.assembled is None:
        # A rebase on NEW as built: its layers are not OLD's, the engine sends them.
        progress(f"pushing {tag} with the engine (NEW as built: its layers are new to the chain)")
        pushed = registry_old.push_with_engine(engine, registry, target, tag)
    else:
        progress(
            f"pushing {target}: OLD's layers mounted from {remote.source.repository}, the delta uploaded"
        )
        layer = made.assembled.layer_path
        blob = compress(layer, layer.with_name(layer.name + ".gz")) if layer else None
        # By digest: the tag moves last (``tag_last``), once the index is beside it.
        pushed = push_image(registry, target, remote, made.assembled.config, blob, progress, untagged=True)
    # Every image the kit pushes gets its tree index, so the next revision's
    # optimize needs no OLD in its engine (``methods.remote``).
    progress("pushing NEW's tree index beside it")
    path = diff.record.path
    moved = after_the_tag_moved(str(target), path) if made.assembled is None else contextlib.nullcontext()
    with moved:
        found = registry_old.old_artifact(
            registry, remote, path, diff.in_pass.old_index if diff.in_pass else None
        )
        new_index, *_ = registry_old.attach_tree_index(
            engine,
            registry,
            target.repository,
            new_ref,
            path,
            pushed["manifest"],
            output_dir,
            image=_index_record(engine, diff, remote, made),
            data=_pushed_index(diff, made),
            base=found,
            progress=progress,
        )
    if made.assembled is not None:
        tag_last(registry, target, pushed["manifest"])
    return {**pushed, "new_index": new_index}


def _make(engine: Engine, method: Method, start: Start, tag, options: Options, remote, progress) -> Made:
    """Make the processed image as ``tag``: the Dockerfile method where it can
    reproduce NEW (or when asked), else the layer method. ``remote``: the image
    made on, as its registry holds it (``--push``), or None."""
    allow_drift = options.allow_drift
    output_dir = start.diff.output_dir
    naive = engine.naive_differ if method is not Method.LAYER else None
    if naive and method is Method.AUTO:
        progress(
            f"the engine's {naive} storage driver finds a step's changes by size and mtime, and could "
            "leave a changed file out of the Dockerfile method's image: the layer method instead"
        )
    elif method in (Method.AUTO, Method.DOCKERFILE):
        if naive:
            progress(
                f"warning: the engine's {naive} storage driver finds a step's changes by size and mtime: "
                "a changed file of OLD's size and second may be left out (the check would say so)"
            )
        try:
            generated = generate(
                engine,
                output_dir,
                allow_drift=allow_drift and method is Method.DOCKERFILE,
                byte_exact=start.diff.byte_exact,
                delta_made=start.diff.in_pass.delta_stats if start.diff.in_pass else None,
            )
        except NotExpressible as exc:
            if method is Method.DOCKERFILE:
                raise
            progress(f"the Dockerfile method cannot: {str(exc).splitlines()[0]}")
        else:
            for warning in generated.warnings:
                progress(f"warning: {warning}")
            delta = output_dir / DELTA_ARCHIVE
            files = {
                DOCKERFILE: output_dir / DOCKERFILE,
                **({DELTA_ARCHIVE: delta} if delta.exists() else {}),
            }
            progress("building the Dockerfile")
            engine.build(
                files, tag, progress=lambda line: progress(f"  {_shortened(line)}"), keep_cache=False
            )
            size = delta.stat().st_size if delta.exists() else 0
            return Made(Method.DOCKERFILE, size, generated.content_bytes, warnings=generated.warnings)
    progress("assembling the layer (whiteouts for removals, NEW's config) and loading it")
    if remote is None and engine.store == "containerd":
        remote = _as_pulled(engine, engine.inspect_image(start.ref), options, progress)
    history = remote.config.get("history") if remote else None
    manifest = OldManifest(remote.manifest_type, remote.layers) if remote else None
    assembled = assemble(
        engine, start.diff.record, start.diff.plan, output_dir, tag, history, manifest, start.diff.in_pass
    )
    layer = assembled.layer
    return Made(Method.LAYER, layer.size if layer else 0, layer.content_bytes if layer else 0, assembled)
