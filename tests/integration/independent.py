"""An image comparison that shares no code with the kit.

It reads each image through ``docker export`` (the whole filesystem, as one
tar stream) and ``docker image inspect``, with the CLI, not the kit's engine
adapter, and not rsync.
"""

import hashlib
import json
import subprocess
import tarfile

# Config fields that make a container behave as it does.
RUNTIME_FIELDS = (
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "Healthcheck",
    "StopSignal",
    "Shell",
    "OnBuild",
)


def docker(*args, **kw):
    return subprocess.run(["docker", *args], check=True, capture_output=True, **kw).stdout


def inspect(image: str) -> dict:
    return json.loads(docker("image", "inspect", image))[0]


def exported_tree(image: str) -> dict:
    """Map each path to (type, mode, uid, gid, content digest or link target).

    Hardlinks are recorded as groups: every name of one file maps to the same
    entry plus the sorted set of its names, so pairs must match too.
    """
    cid = docker("create", image, "/difflayers-test-never-runs").decode().strip()
    entries, links = {}, {}
    try:
        proc = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name.rstrip("/")
                if member.islnk():
                    target = member.linkname.rstrip("/")
                    links.setdefault(target, {target}).add(name)
                    entries[name] = entries[target]
                    continue
                if member.isreg():
                    payload = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
                elif member.issym():
                    payload = "-> " + member.linkname
                elif member.ischr() or member.isblk():
                    payload = f"dev {member.devmajor}:{member.devminor}"
                else:
                    payload = ""
                entries[name] = (member.type, member.mode, member.uid, member.gid, payload)
        if proc.wait() != 0:
            raise RuntimeError(f"docker export {image} failed")
    finally:
        docker("rm", "-f", "-v", cid)
    for group in links.values():
        for name in group:
            entries[name] = entries[name] + (tuple(sorted(group)),)
    return entries


def tree_differences(image_a: str, image_b: str, under: str = "") -> list:
    """Readable differences between two images' trees (empty when equal)."""
    prefix = under.strip("/")
    a, b = exported_tree(image_a), exported_tree(image_b)
    if prefix:
        a = {k: v for k, v in a.items() if k == prefix or k.startswith(prefix + "/")}
        b = {k: v for k, v in b.items() if k == prefix or k.startswith(prefix + "/")}
    out = []
    for path in sorted(set(a) | set(b)):
        if a.get(path) != b.get(path):
            out.append(f"{path}: {a.get(path)} != {b.get(path)}")
    return out


# The kit records a chain of deltas in labels under this prefix (its
# documented contract); they are the processed image's own, not NEW's.
CHAIN_LABEL_PREFIX = "io.github.difflayers.chain."


def _without_chain_record(config: dict) -> dict:
    labels = {k: v for k, v in (config.get("Labels") or {}).items() if not k.startswith(CHAIN_LABEL_PREFIX)}
    return {**config, "Labels": labels}


def config_differences(image_a: str, image_b: str) -> list:
    """Runtime config differences; ENV compared as a mapping."""
    a, b = inspect(image_a), inspect(image_b)
    out = []
    for field in ("Os", "Architecture"):
        if a.get(field) != b.get(field):
            out.append(f"{field}: {a.get(field)} != {b.get(field)}")
    ca, cb = _without_chain_record(a["Config"] or {}), _without_chain_record(b["Config"] or {})
    env_a = dict(e.split("=", 1) for e in ca.get("Env") or [])
    env_b = dict(e.split("=", 1) for e in cb.get("Env") or [])
    if env_a != env_b:
        out.append(f"Env: {env_a} != {env_b}")
    for field in RUNTIME_FIELDS:
        if (ca.get(field) or None) != (cb.get(field) or None):
            out.append(f"{field}: {ca.get(field)} != {cb.get(field)}")
    return out


def added_layers(image: str, base: str) -> tuple:
    """(layers, bytes) that ``image`` adds on top of ``base``, which it must extend."""
    layers = json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image))
    base_layers = json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", base))
    assert layers[: len(base_layers)] == base_layers, f"{image} is not built on {base}"
    sizes = [int(s) for s in docker("history", "--format", "{{.Size}}", "--human=false", image).split()]
    base_entries = len(docker("history", "-q", base).split())
    return len(layers) - len(base_layers), sum(sizes[: len(sizes) - base_entries])
