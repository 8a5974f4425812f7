"""An image comparison that shares no code with the kit.

It reads each image through ``docker export`` (the whole filesystem, as one
tar stream) and ``docker image inspect``, with the CLI, not the kit's engine
adapter, and not rsync.
"""

import gzip
import hashlib
import io
import json
import posixpath
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


def _content_digest(data: bytes, name: str, mask_pyc_mtime: bool) -> str:
    """sha256 of a file; with ``mask_pyc_mtime``, a timestamp-based ``__pycache__/*.pyc``
    (flags word 0, PEP 552) is hashed with bytes 8-11, its source's mtime, zeroed."""
    if mask_pyc_mtime and name.endswith(".pyc") and "/__pycache__/" in f"/{name}" and len(data) >= 16:
        if data[2:4] == b"\r\n" and data[4:8] == b"\0\0\0\0":
            data = data[:8] + b"\0\0\0\0" + data[12:]
    return hashlib.sha256(data).hexdigest()


def exported_tree(image: str, mask_pyc_mtime: bool = False, platform: str = "") -> dict:
    """Map each path to (type, mode, uid, gid, content digest or link target, xattrs).

    xattrs are those the export carries (SCHILY.xattr.* records); see
    ``container_xattrs`` for the ones only a running container sees.

    Hardlinks are recorded as groups: every name of one file maps to the same
    entry plus the sorted set of its names, so pairs must match too.
    """
    chosen = ["--platform", platform] if platform else []  # a multi-platform image's, never run
    cid = docker("create", *chosen, image, "/difflayers-test-never-runs").decode().strip()
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
                    payload = _content_digest(tar.extractfile(member).read(), name, mask_pyc_mtime)
                elif member.issym():
                    payload = "-> " + member.linkname
                elif member.ischr() or member.isblk():
                    payload = f"dev {member.devmajor}:{member.devminor}"
                else:
                    payload = ""
                xattrs = tuple(
                    sorted((k, v) for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr."))
                )
                entries[name] = (member.type, member.mode, member.uid, member.gid, payload, xattrs)
        if proc.wait() != 0:
            raise RuntimeError(f"docker export {image} failed")
    finally:
        docker("rm", "-f", "-v", cid)
    for group in links.values():
        for name in group:
            entries[name] = entries[name] + (tuple(sorted(group)),)
    return entries


_LIST_XATTRS = """
import os, sys
for top, dirs, files in os.walk(sys.argv[1]):
    for name in sorted(dirs + files) + ([] if top != sys.argv[1] else ["."]):
        path = os.path.normpath(os.path.join(top, name))
        for key in sorted(os.listxattr(path, follow_symlinks=False)):
            value = os.getxattr(path, key, follow_symlinks=False)
            print(repr((path, key, value.hex())))
"""


def container_xattrs(image: str, under: str) -> list:
    """Every extended attribute under ``under`` as a container of ``image`` sees it
    (the image must have python3): user.* ones included, which no archive carries."""
    out = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c", _LIST_XATTRS, under
    )
    return sorted(out.decode().splitlines())


def tree_differences(
    image_a: str, image_b: str, under: str = "", mask_pyc_mtime: bool = False, platform: str = ""
) -> list:
    """Readable differences between two images' trees (empty when equal)."""
    prefix = under.strip("/")
    a = exported_tree(image_a, mask_pyc_mtime, platform)
    b = exported_tree(image_b, mask_pyc_mtime, platform)
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


def _layer_blob(fileobj):
    """(sha256 of the uncompressed tar, bytes of regular-file content), or None if no tar."""
    head = fileobj.read(2)
    rest = fileobj.read()  # test images are small: whole blobs in memory are fine here
    data = head + rest
    if head == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            content = sum(m.size for m in tar.getmembers() if m.isreg())
    except tarfile.TarError:
        return None
    return "sha256:" + hashlib.sha256(data).hexdigest(), content


def layer_content(image: str) -> dict:
    """diff ID -> bytes of regular-file content, from ``docker save`` of the image:
    the layers themselves, whichever store wrote the archive."""
    proc = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    found = {}
    with tarfile.open(fileobj=proc.stdout, mode="r|") as outer:
        for member in outer:
            metadata = member.name.endswith((".json", "VERSION", "repositories", "oci-layout"))
            if member.isreg() and not metadata:
                blob = _layer_blob(outer.extractfile(member))
                if blob:
                    found[blob[0]] = blob[1]
    if proc.wait() != 0:
        raise RuntimeError(f"docker save {image} failed")
    return found


def added_layers(image: str, base: str) -> tuple:
    """(layers, bytes of file content) that ``image`` adds on top of ``base``, which it must extend."""
    layers = json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image))
    base_layers = json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", base))
    assert layers[: len(base_layers)] == base_layers, f"{image} is not built on {base}"
    added = layers[len(base_layers) :]
    content = layer_content(image) if added else {}
    return len(added), sum(content[diff_id] for diff_id in added)


def _describe(member, data: bytes | None) -> tuple:
    if member.isreg():
        payload = hashlib.sha256(data).hexdigest()
    elif member.issym():
        payload = "-> " + member.linkname
    elif member.ischr() or member.isblk():
        payload = f"dev {member.devmajor}:{member.devminor}"
    else:
        payload = ""
    xattrs = tuple(sorted((k, v) for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr.")))
    # Go's archive/tar writes the file type bits into the mode field too; tar's mode is 07777.
    return (member.type, member.mode & 0o7777, member.uid, member.gid, payload, xattrs)


def _apply_layer(tree: dict, links: dict, data: bytes) -> None:
    """Apply one layer tar to ``tree`` as the OCI image spec says: ``.wh.NAME``
    removes NAME, ``.wh..wh..opq`` hides what lower layers had in its folder."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)

    def drop(name, keep=()):
        for key in [k for k in tree if (k == name or k.startswith(name + "/")) and k not in keep]:
            del tree[key]
            links.pop(key, None)

    added = set()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            name = posixpath.normpath("/" + member.name).lstrip("/")
            if not name:
                continue  # whether a layer lists "./" says nothing of the filesystem
            folder, base = posixpath.split(name)
            if base == ".wh..wh..opq":
                drop(folder, keep=added | {folder})
                continue
            if base.startswith(".wh."):
                drop(posixpath.join(folder, base[4:]))
                continue
            if not member.isdir() or (name in tree and tree[name][0] != tarfile.DIRTYPE):
                drop(name)
            added.add(name)
            if member.islnk():
                target = posixpath.normpath("/" + member.linkname).lstrip("/")
                tree[name] = tree[target]
                links[name] = links.setdefault(target, target)
                continue
            tree[name] = _describe(member, tar.extractfile(member).read() if member.isreg() else None)


def saved_layers(image: str) -> list:
    """The image's layer blobs, bottom first, as ``docker save`` gives them (held whole:
    test images are small)."""
    proc = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    blobs = {}
    with tarfile.open(fileobj=proc.stdout, mode="r|") as outer:
        for member in outer:
            if member.isreg():
                blobs[member.name] = outer.extractfile(member).read()
    if proc.wait() != 0:
        raise RuntimeError(f"docker save {image} failed")
    return [blobs[layer] for layer in json.loads(blobs["manifest.json"])[0]["Layers"]]


def saved_tree(image: str) -> dict:
    """Like ``exported_tree``, but from the image's layers (``docker save``), applied
    in order: no container is made, so no stand-in of Docker's (/etc/hosts,
    /.dockerenv, ...) hides what the image holds there."""
    tree, links = {}, {}
    for layer in saved_layers(image):
        _apply_layer(tree, links, layer)
    groups: dict = {}
    for name, first in links.items():
        groups.setdefault(first, set()).add(name)
    for group in groups.values():
        if len(group) > 1:
            for name in group:
                tree[name] = tree[name] + (tuple(sorted(group)),)
    return tree


def saved_tree_differences(image_a: str, image_b: str) -> list:
    """``tree_differences`` of the images' layers, the whole filesystem."""
    a, b = saved_tree(image_a), saved_tree(image_b)
    return [f"{p}: {a.get(p)} != {b.get(p)}" for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]
