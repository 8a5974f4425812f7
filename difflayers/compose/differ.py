"""rsync-image-diff, the differ service: itemize what turns OLD into NEW.

Compose has exposed OLD's and NEW's trees as named volumes (filled by Docker
when the ``old`` and ``new`` containers were created) at /trees/old and
/trees/new (not on Podman, which fills a volume only once: see
``_compare_in_fresh_volumes``). A named volume is never refilled while it
holds files, so this step proves the copies are fresh before comparing, and empties them (and
removes the containers that filled them) afterwards, so that the next run,
with other images perhaps, gets fresh copies too.
"""

import datetime
import os
import socket
from pathlib import Path

from difflayers.adapters.engine import Engine, refuse_stand_ins
from difflayers.comparing.container import TREES, compare_in_volumes
from difflayers.comparing.record import compare_and_record
from difflayers.comparing.rsync import empty_directory
from difflayers.core.diffrecord import ImageRef
from difflayers.core.names import check_tree_path
from difflayers.core.outputs import LOG_NAME, META_NAME, remove_quietly
from difflayers.errors import BadInput
from difflayers.settings import Environment

# File timestamps come from the kernel's coarse clock (one tick behind at
# most: 10 ms at HZ=100; kernels from 6.13 stamp finely) while the engine
# stamps Created with the fine one, before it copies into the volume. A
# stale copy is older by a whole Compose invocation: 100 ms and more here,
# but not always (CI saw less), hence the label check first.
CLOCK_SLACK_NS = 20_000_000

# Compose v2 labels a container it made to replace an older one of the same
# service. That older container, not this one, filled the volume.
REPLACE_LABEL = "com.docker.compose.replace"


def _created_ns(stamp: str) -> int:
    """Docker's RFC 3339 timestamp (nanoseconds) as integer nanoseconds."""
    base, _, rest = stamp.rstrip("Z").partition(".")
    seconds = datetime.datetime.fromisoformat(base).replace(tzinfo=datetime.timezone.utc).timestamp()
    return int(seconds) * 1_000_000_000 + int((rest or "0").ljust(9, "0")[:9])


def _tree_container(engine: Engine, project: str, service: str) -> dict:
    ids = engine.compose_containers(project, service)
    if len(ids) != 1:
        raise BadInput(f"expected one '{service}' container in project {project!r}, found {len(ids)}")
    return engine.inspect_container(ids[0])


def _check_fresh(container: dict, image_id: str, tree: str, service: str) -> None:
    """The volume must have been filled when this container was created.

    Docker copies the image's files into an empty volume as it creates the
    container, and never into one that holds files. A container Compose made
    to replace an earlier one found the volume as that one left it; and the
    volume root's ctime is at least the creation time of the container that
    filled it, so an older ctime means an earlier container did.
    """
    if container["Image"] != image_id:
        raise BadInput(f"the '{service}' container was made from another image; run the command again")
    replaced = (container["Config"].get("Labels") or {}).get(REPLACE_LABEL)
    if replaced or os.stat(tree).st_ctime_ns + CLOCK_SLACK_NS < _created_ns(container["Created"]):
        raise BadInput(
            f"the copy of the {service.upper()} tree was left by an earlier, interrupted run and "
            "has been discarded; run the same command again"
        )


def _compare_in_fresh_volumes(engine: Engine, path: str, old: ImageRef, new: ImageRef, output_dir: Path):
    """Podman fills a named volume from an image once in the volume's life, not
    whenever it is empty as Docker does (podman#12714), so from the second run
    on Compose's volumes stay empty. The trees are copied into volumes of this
    run instead, compared in a container beside this one, and removed; the
    volumes and containers Compose made stay as Compose left them."""
    print("Podman fills a named volume only once: the trees copied into new volumes of this run", flush=True)
    compare_in_volumes(engine, path, old, new, output_dir, lambda text: None)


def run(output_dir: Path, env: Environment) -> None:
    path = check_tree_path(env.restrict_path)
    refs = {"old": env.old_image, "new": env.new_image}
    engine = Engine.connect()
    me = engine.inspect_container(socket.gethostname())
    project = me["Config"]["Labels"]["com.docker.compose.project"]
    containers = {service: _tree_container(engine, project, service) for service in TREES}
    output_dir = Path(output_dir)
    remove_quietly(output_dir / META_NAME)
    try:
        images = {}
        for service, ref in refs.items():
            images[service] = engine.inspect_image(ref)
            engine.require_directory(ref, path)
            refuse_stand_ins(path, ref)  # the volumes were filled through containers
            if not engine.is_podman:
                _check_fresh(containers[service], images[service]["Id"], TREES[service], service)
        old, new = (ImageRef(refs[service], images[service]["Id"]) for service in ("old", "new"))
        print(f"Comparing {path} of {refs['old']} (OLD) with {refs['new']} (NEW) ...", flush=True)
        if engine.is_podman:
            _compare_in_fresh_volumes(engine, path, old, new, output_dir)
        else:
            compare_and_record(TREES["new"], TREES["old"], output_dir, path=path, old=old, new=new)
    finally:
        # The tree containers go first, then their volumes are emptied (see the
        # module doc). On Podman the volumes were not used, and are emptied all
        # the same (Podman never fills them again anyway); the containers are
        # left to Compose, which waits on them (removing one it has not seen
        # exit yet leaves `up` waiting for ever there).
        if not engine.is_podman:
            engine.remove_containers([c["Id"] for c in containers.values()])
        for service in TREES:
            empty_directory(TREES[service])
    print(f"Wrote {output_dir / LOG_NAME} and {output_dir / META_NAME}", flush=True)
