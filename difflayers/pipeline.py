"""The CLI's pipeline: diff, make, verify (and push), all through the engine API.

Each step is the one the compose path runs (``diffing``, ``steps.generate``,
``steps.verify``); only the plumbing differs: volumes and helper containers
made through the API, results copied out through it, so nothing depends on a
bind mount and a remote engine (DOCKER_HOST) works. Everything a run creates
carries its run label and is removed on success, failure and Ctrl-C.
"""

import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import engine, report
from .assemble import assemble
from .config import require_same_platform
from .dockerfile import DELTA_ARCHIVE, DOCKERFILE
from .errors import BadInput, DiffLayersError, NotExpressible
from .names import check_tree_path
from .push import compress, find_old, push_image
from .registry import Registry, parse_reference
from .steps import generate, verify


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
    progress(f"copying {path} of OLD and NEW into fresh volumes")
    try:
        _compare(client, path, refs, run_id, output_dir, progress)
    finally:
        engine.sweep(client, run_id)
    return report.load(output_dir)


def _compare(client, path, refs, run_id, output_dir, progress) -> None:
    """Fresh volumes of both trees, the differ container on them, results copied out."""
    with (
        engine.tree_volume(client, refs["old"]["ref"], path, run_id, "old") as old_volume,
        engine.tree_volume(client, refs["new"]["ref"], path, run_id, "new") as new_volume,
    ):
        progress("comparing the trees with rsync")
        command = ["python3", "-m", "difflayers", "compare-trees", "--path", path]
        command += ["--old", json.dumps(refs["old"]), "--new", json.dumps(refs["new"])]
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


def naive_bytes(client, new_ref: str, old_ref: str) -> int:
    """What pushing NEW as built sends once OLD is in the registry: its layers
    that OLD does not share, sized from NEW's history.

    History entries of size 0 are skipped, whether they made an empty layer
    or none; those add no bytes either way.
    """
    new_layers = engine.inspect_image(client, new_ref)["RootFS"]["Layers"]
    old_layers = engine.inspect_image(client, old_ref)["RootFS"]["Layers"]
    shared = 0
    while shared < min(len(new_layers), len(old_layers)) and new_layers[shared] == old_layers[shared]:
        shared += 1
    sizes = [entry["Size"] for entry in reversed(client.api.history(new_ref)) if entry["Size"] > 0]
    return sum(sizes[shared:])


METHODS = ("auto", "dockerfile", "layer")


@dataclass
class Made:
    """What the build step made: by which method, and the delta's size."""

    method: str
    delta_bytes: int
    assembled: object = None


def optimize(
    client,
    old_ref,
    new_ref,
    path,
    tag,
    output_dir: Path,
    allow_drift=False,
    progress=None,
    skip_verify=False,
    method="auto",
    push_to=None,
    plain_http=False,
) -> dict:
    """diff + make (Dockerfile or layer) + verify [+ push]; returns the figures.

    The image is made under a temporary tag, verified against NEW, and only
    then tagged TAG: a failed or interrupted run publishes nothing.
    ``skip_verify`` tags it unverified, for pipelines that verify apart.
    ``push_to`` (HOST/REPO:TAG) puts it in OLD's registry by blob mount.
    """
    progress = progress or Progress()
    seconds = {}
    clock = time.monotonic()

    def lap(step):
        nonlocal clock
        now = time.monotonic()
        seconds[step] = round(now - clock, 2)
        clock = now

    remote = None
    if push_to:
        if method == "dockerfile":
            raise BadInput("--push assembles the layer itself: use it with --method layer (or auto)")
        method = "layer"
        target = parse_reference(push_to)
        registry = Registry(target.host, plain_http)
        progress(f"finding OLD in {target.host}")
        remote = find_old(registry, engine.inspect_image(client, old_ref), target)
    _, plan = diff(client, old_ref, new_ref, path, output_dir, progress)
    lap("diff")
    progress(f"found {plan.created} new, {plan.changed} changed, {len(plan.removals)} removed")
    with engine.temporary_tag(client, uuid.uuid4().hex[:12]) as unverified:
        made = _make(client, method, plan, output_dir, unverified, allow_drift, remote, progress)
        lap("build")
        if not skip_verify:
            progress(f"verifying {tag} against {new_ref}")
            if verify.run(new_ref, unverified, client=client, quiet=True) != 0:
                raise VerificationFailed(
                    f"the image made by the {made.method} method from {output_dir} differs from {new_ref}, so "
                    f"{tag} was not tagged; keep the files with --output and compare with `difflayers verify`"
                )
            lap("verify")
        engine.publish(client, unverified, tag)
    pushed = {}
    if remote is not None:
        progress(
            f"pushing {push_to}: OLD's layers mounted from {remote.source.repository}, the delta uploaded"
        )
        layer = made.assembled.layer_path
        blob = compress(layer, output_dir / (layer.name + ".gz")) if layer else None
        pushed = push_image(registry, target, remote, made.assembled.config, blob)
        lap("push")
    old_layers = len(engine.inspect_image(client, old_ref)["RootFS"]["Layers"])
    return {
        "tag": tag,
        "method": made.method,
        "new": plan.created,
        "changed": plan.changed,
        "removed": len(plan.removals),
        "delta_bytes": made.delta_bytes,
        "layers_added": len(engine.inspect_image(client, tag)["RootFS"]["Layers"]) - old_layers,
        "bytes_added": sum(entry["Size"] for entry in layers_above(client, tag, old_ref)),
        "naive_bytes": naive_bytes(client, new_ref, old_ref),
        "verified": not skip_verify,
        **pushed,
        "step_seconds": seconds,
        "seconds": round(sum(seconds.values()), 1),
    }


def _make(client, method, plan, output_dir, tag, allow_drift, remote, progress) -> Made:
    """Make the processed image as ``tag``: the Dockerfile method where it can
    reproduce NEW (or when asked), else the layer method."""
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
            engine.build(client, files, tag, progress=lambda line: progress(f"  {line}"))
            return Made("dockerfile", delta.stat().st_size if delta.exists() else 0)
    progress("assembling the layer (whiteouts for removals, NEW's config) and loading it")
    assembled = assemble(
        client,
        report.load(output_dir)[0],
        plan,
        output_dir,
        tag,
        remote.config["history"] if remote else None,
    )
    return Made("layer", assembled.layer.size if assembled.layer else 0, assembled)
