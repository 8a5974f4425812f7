"""The Dockerfile method: the differ's log -> delta archive, removal list, Dockerfile.

Reads the diff's log and record from the output folder, copies NEW's changed
entries out of the engine (a created, never started container: NEW needs no
shell), and renders the Dockerfile that builds OLD + those changes + NEW's
config. It returns what it wrote; the compose step and the CLI print it.
"""

from dataclasses import dataclass, field
from pathlib import Path

from difflayers.archives.delta import write_delta
from difflayers.comparing import difflog
from difflayers.core.chain import next_chain, without_chain_labels
from difflayers.core.configdelta import config_delta, require_same_platform
from difflayers.core.diffrecord import DiffRecord
from difflayers.core.outputs import atomic_file, remove_quietly, write_text
from difflayers.core.plan import Plan
from difflayers.errors import NotExpressible, StaleOutput
from difflayers.methods import Method
from difflayers.methods.dockerfile import (
    DELTA_ARCHIVE,
    DOCKERFILE,
    REMOVAL_LIST,
    REMOVE_ARGV,
    check_removal_names,
    render_dockerfile,
    render_removal_list,
)

ROOT_USERS = ("", "root", "0", "root:root", "0:0")
REMOVER = REMOVE_ARGV[0]


@dataclass(frozen=True)
class Expected:
    """What the caller asked for; the diff in the folder must match it (empty: anything)."""

    old_ref: str = ""
    new_ref: str = ""
    path: str = ""


@dataclass
class Generated:
    """What ``generate`` wrote, and what a person should be told."""

    record: DiffRecord
    plan: Plan
    content_bytes: int
    delta_note: str
    warnings: list = field(default_factory=list)


def _check_matches(record: DiffRecord, images: dict, expected: Expected) -> None:
    """The log must describe the images and path asked for, as they are now."""
    for role, env, asked in (("old", "OLD_IMAGE", expected.old_ref), ("new", "NEW_IMAGE", expected.new_ref)):
        ref = getattr(record, role)
        if asked and asked != ref.ref:
            raise StaleOutput(
                f"{env}={asked} but the diff in output/ was made for {ref.ref}; run rsync-image-diff again"
            )
        if images[role]["Id"] != ref.id:
            raise StaleOutput(
                f"{ref.ref} now points to another image than when it was diffed; run rsync-image-diff again"
            )
    if expected.path and expected.path.rstrip("/") != record.path:
        raise StaleOutput(f"RESTRICT_DIFF_TO_PATH={expected.path} but the diff was made under {record.path}")
    require_same_platform(images["old"], images["new"])


def generate(
    engine,
    output_dir: Path,
    allow_drift: bool = False,
    expected: Expected = Expected(),
    byte_exact=False,
    delta_made=None,
) -> Generated:
    """Write the delta archive, removal list and Dockerfile into ``output_dir``
    (``byte_exact``: ship byte-code that is only equivalent to OLD's too).
    ``delta_made``: the ``DeltaStats`` of the delta archive the differ's pass
    already wrote there from NEW's mount (``comparing.inpass``): NEW is not read."""
    output_dir = Path(output_dir)
    # The Dockerfile goes last and the old one first: a failed run leaves
    # nothing that builds, rather than an old Dockerfile beside a new archive.
    remove_quietly(output_dir / DOCKERFILE)
    record, plan = difflog.load(output_dir, byte_exact)
    images = {role: engine.inspect_image(getattr(record, role).ref) for role in ("old", "new")}
    _check_matches(record, images, expected)
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
    warnings = []
    if config.drift:
        listed = "".join(f"\n  {item}" for item in config.drift)
        if not allow_drift:
            raise NotExpressible(
                "NEW's config cannot be reproduced by a Dockerfile on top of OLD:"
                + listed
                + "\nSet ALLOW_CONFIG_DRIFT=1 (or --allow-config-drift) to build anyway,"
                + " keeping OLD's values,\nor use the layer method, which makes NEW's config exactly:"
                + " difflayers optimize --method layer"
            )
        warnings.append("keeping OLD's values for:" + listed)

    if plan.removals and engine.path_kind(record.old.ref, REMOVER) == "missing":
        raise NotExpressible(
            f"OLD has no {REMOVER} to run the removals with (a distroless or FROM scratch image?); "
            "the layer method writes them as whiteouts instead: difflayers optimize --method layer"
        )
    # Names are checked before NEW's tree is read (a refusal costs nothing).
    check_removal_names(record.path, plan)
    removal_list = render_removal_list(record.path, plan)

    content_bytes = 0
    if plan.additions:
        stats = delta_made or _delta_from_engine(engine, record, plan, output_dir)
        content_bytes = stats.content_bytes
        delta_note = f"{DELTA_ARCHIVE}: {stats.entries} entries, {stats.content_bytes} bytes of file content"
    else:
        remove_quietly(output_dir / DELTA_ARCHIVE)
        delta_note = f"{DELTA_ARCHIVE}: not needed (nothing to add)"

    # The processed image records its chain (see chain.py) in labels.
    layers = Method.DOCKERFILE.layers_added(bool(plan.additions), bool(plan.removals))
    chain = next_chain(images["old"], record.new.id, record.superseded_bytes, content_bytes, layers)
    pairs = [
        line.removeprefix("LABEL ") for line in config_delta({}, {"Labels": chain.labels()}).instructions
    ]
    config.instructions.append("LABEL " + " ".join(pairs))  # one instruction: one build step
    dockerfile = render_dockerfile(
        old=record.old,
        new=record.new,
        path=record.path,
        plan=plan,
        config=config,
        has_delta=bool(plan.additions),
        run_as_root=run_as_root,
    )
    write_text(output_dir / REMOVAL_LIST, removal_list)
    write_text(output_dir / DOCKERFILE, dockerfile)
    return Generated(record, plan, content_bytes, delta_note, warnings)


def _delta_from_engine(engine, record: DiffRecord, plan: Plan, output_dir: Path):
    """The delta archive from NEW's tree as the engine's archive endpoint streams it."""
    with (
        engine.tree_archive(record.new.ref, record.path) as source,
        atomic_file(output_dir / DELTA_ARCHIVE) as dest,
    ):
        return write_delta(source, dest, tree_path=record.path, plan=plan)
