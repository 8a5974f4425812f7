"""generate-dockerfile: the differ's log -> delta archive, removal list, Dockerfile.

Reads output/rsync-image-diff.{log,json}, copies NEW's changed entries out of
the engine (a created, never started container: NEW needs no shell), and
renders the Dockerfile that builds OLD + those changes + NEW's config.
"""

import os
from pathlib import Path

from .. import engine, report
from ..chain import next_chain, without_chain_labels
from ..config import config_delta, require_same_platform
from ..delta import write_delta
from ..dockerfile import (
    DELTA_ARCHIVE,
    DOCKERFILE,
    REMOVAL_LIST,
    REMOVE_ARGV,
    ImageRef,
    check_removal_names,
    render_dockerfile,
    render_removal_list,
)
from ..errors import NotExpressible, StaleOutput
from ..outputs import atomic_file, remove_quietly, write_text

ROOT_USERS = ("", "root", "0", "root:root", "0:0")
REMOVER = REMOVE_ARGV[0]


def _check_matches(meta: dict, images: dict, environ) -> None:
    """The log must describe the images and path asked for, as they are now."""
    for role, env in (("old", "OLD_IMAGE"), ("new", "NEW_IMAGE")):
        asked = environ.get(env)
        if asked and asked != meta[role]["ref"]:
            raise StaleOutput(
                f"{env}={asked} but the diff in output/ was made for {meta[role]['ref']}; "
                "run rsync-image-diff again"
            )
        if images[role]["Id"] != meta[role]["id"]:
            raise StaleOutput(
                f"{meta[role]['ref']} now points to another image than when it was diffed; "
                "run rsync-image-diff again"
            )
    asked_path = environ.get("RESTRICT_DIFF_TO_PATH")
    if asked_path and asked_path.rstrip("/") != meta["path"]:
        raise StaleOutput(f"RESTRICT_DIFF_TO_PATH={asked_path} but the diff was made under {meta['path']}")
    require_same_platform(images["old"], images["new"])


def run(output_dir: Path, client=None, allow_drift=None, quiet=False, environ=None) -> int:
    """Write the delta archive, removal list and Dockerfile into ``output_dir``.

    ``environ`` (the process environment by default: the compose path) may
    name the images and path the diff must match; the CLI passes ``{}``.
    """
    environ = os.environ if environ is None else environ
    output_dir = Path(output_dir)
    # The Dockerfile goes last and the old one first: a failed run leaves
    # nothing that builds, rather than an old Dockerfile beside a new archive.
    remove_quietly(output_dir / DOCKERFILE)
    meta, plan = report.load(output_dir)
    client = engine.connect(client)
    images = {role: engine.inspect_image(client, meta[role]["ref"]) for role in ("old", "new")}
    _check_matches(meta, images, environ)
    old_cfg = without_chain_labels(images["old"]["Config"] or {})
    new_cfg = without_chain_labels(images["new"]["Config"] or {})

    config = config_delta(old_cfg, new_cfg)
    run_as_root = bool(plan.removals) and (old_cfg.get("User") or "") not in ROOT_USERS
    if run_as_root:
        # The removals run as root; NEW's user must then be set again.
        if not new_cfg.get("User"):
            config.drift.append("USER (NEW runs as the default user, OLD does not)")
        elif not any(i.startswith("USER ") for i in config.instructions):
            config.instructions.append(f"USER {new_cfg['User']}")
    if config.drift:
        listed = "".join(f"\n  {item}" for item in config.drift)
        if allow_drift is None:
            allow_drift = environ.get("ALLOW_CONFIG_DRIFT") == "1"
        if not allow_drift:
            raise NotExpressible(
                "NEW's config cannot be reproduced by a Dockerfile on top of OLD:"
                + listed
                + "\nSet ALLOW_CONFIG_DRIFT=1 (or --allow-config-drift) to build anyway, keeping OLD's values,"
                + "\nor use the layer method, which makes NEW's config exactly: difflayers optimize --method layer"
            )
        print("Warning: keeping OLD's values for:" + listed, flush=True)

    if plan.removals and engine.path_kind(client, meta["old"]["ref"], REMOVER) == "missing":
        raise NotExpressible(
            f"OLD has no {REMOVER} to run the removals with (a distroless or FROM scratch image?); "
            "the layer method writes them as whiteouts instead: difflayers optimize --method layer"
        )
    # Names are checked before NEW's tree is read (a refusal costs nothing).
    check_removal_names(meta["path"], plan)
    removal_list = render_removal_list(meta["path"], plan)

    content_bytes = 0
    if plan.additions:
        with (
            engine.tree_archive(client, meta["new"]["ref"], meta["path"]) as source,
            atomic_file(output_dir / DELTA_ARCHIVE) as dest,
        ):
            stats = write_delta(source, dest, tree_path=meta["path"], plan=plan)
        content_bytes = stats.content_bytes
        delta_note = f"{DELTA_ARCHIVE}: {stats.entries} entries, {stats.content_bytes} bytes of file content"
    else:
        remove_quietly(output_dir / DELTA_ARCHIVE)
        delta_note = f"{DELTA_ARCHIVE}: not needed (nothing to add)"

    # The processed image records its chain (see chain.py) in labels.
    layers = bool(plan.additions) + bool(plan.removals)
    chain = next_chain(images["old"], meta, content_bytes, layers)
    pairs = [
        line.removeprefix("LABEL ") for line in config_delta({}, {"Labels": chain.labels()}).instructions
    ]
    config.instructions.append("LABEL " + " ".join(pairs))  # one instruction: one build step
    dockerfile = render_dockerfile(
        old=ImageRef(meta["old"]["ref"], meta["old"]["id"]),
        new=ImageRef(meta["new"]["ref"], meta["new"]["id"]),
        path=meta["path"],
        plan=plan,
        config=config,
        has_delta=bool(plan.additions),
        run_as_root=run_as_root,
    )
    write_text(output_dir / REMOVAL_LIST, removal_list)
    write_text(output_dir / DOCKERFILE, dockerfile)

    if not quiet:
        print(report.summary(meta, plan))
        print(f"Wrote {output_dir}/: {DOCKERFILE}, {REMOVAL_LIST} ({len(plan.removals)} paths), {delta_note}")
    return 0
