"""Extended attributes on the real engine: a file capability travels through both
methods and verify sees it; an attribute the engine's archives cannot carry is
refused by name, never dropped while the image is called verified.

Checked with the comparison that shares no code with the kit, which reads the
export's xattr records and, for the rest, lists them inside a container.
"""

import json
import struct
import sys

import pytest

from .conftest import sh
from .independent import config_differences, container_xattrs, tree_differences

pytestmark = pytest.mark.engine

TOOL = "difflayers-kit:local"  # has python3 to set and list xattrs
CAP_NET_RAW_EP = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0).hex()
SET = "import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]))"


def setxattr(path, name, value_hex):
    """A Dockerfile RUN line (exec form: no shell quoting) setting one xattr."""
    return "RUN " + json.dumps(["python3", "-c", SET, path, name, value_hex])


def _build(context, tag, dockerfile, builder):
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    builder(context, tag)
    return tag


@pytest.fixture
def old_image(kit, tmp_path, unique, builders, cleanup_images):
    tag = f"{unique}:old"
    cleanup_images.append(tag)
    dockerfile = (
        f"FROM {TOOL}\nRUN mkdir /app && echo hi > /app/t && echo ping > /app/ping && echo u > /app/u\n"
    )
    return _build(tmp_path / "old", tag, dockerfile, builders["classic"])


def _optimize(kit, old, new, tag, *args):
    argv = [
        sys.executable,
        "-m",
        "difflayers",
        "optimize",
        old,
        new,
        "--path",
        "/app",
        "-t",
        tag,
        "--json",
        *args,
    ]
    return sh(argv, kit, check=False)


@pytest.mark.parametrize("method", ["dockerfile", "layer"])
@pytest.mark.store  # xattrs as each store keeps them
def test_a_file_capability_travels_and_verify_sees_it(
    kit, old_image, method, tmp_path, unique, builders, cleanup_images
):
    new = _build(
        tmp_path / "new",
        f"{unique}:new",
        f"FROM {old_image}\n{setxattr('/app/ping', 'security.capability', CAP_NET_RAW_EP)}\n",
        builders["classic"],
    )
    processed = f"{unique}:processed-{method}"
    cleanup_images.extend([new, processed])
    # verify tells OLD from NEW by the capability alone.
    differs = sh(
        [sys.executable, "-m", "difflayers", "verify", old_image, new, "--path", "/app"], kit, check=False
    )
    assert differs.returncode == 1, differs.stdout + differs.stderr
    assert "differs: app/ping" in differs.stdout and "security.capability" in differs.stdout
    result = _optimize(kit, old_image, new, processed, "--method", method)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["method"] == method
    assert tree_differences(new, processed, "/app") == []
    assert config_differences(new, processed) == []
    assert container_xattrs(processed, "/app") == container_xattrs(new, "/app")
    assert any("security.capability" in line for line in container_xattrs(processed, "/app"))


def _image_with_user_xattr(old_image, tmp_path, tag, builders):
    """NEW = OLD with user.origin on /app/u, made the ways this engine keeps it:
    a BuildKit build, else a committed container. None if neither keeps it."""
    _build(
        tmp_path / "new",
        tag,
        f"FROM {old_image}\n{setxattr('/app/u', 'user.origin', b'probe'.hex())}\n",
        builders["buildkit"],
    )
    if any("user.origin" in line for line in container_xattrs(tag, "/app")):
        return tag
    name = tag.replace(":", "-").replace("/", "-")
    run = ["docker", "run", "--name", name, "--network", "none", "--entrypoint", "python3", old_image]
    sh([*run, "-c", SET, "/app/u", "user.origin", b"probe".hex()], ".")
    try:
        sh(["docker", "commit", name, tag], ".")
    finally:
        sh(["docker", "rm", "-f", name], ".", check=False)
    return tag if any("user.origin" in line for line in container_xattrs(tag, "/app")) else None


def test_an_attribute_no_archive_carries_is_refused_by_name(kit, old_image, tmp_path, unique, builders):
    # An image can hold a user.* xattr that the engine's archives (what both
    # methods read NEW from) do not carry: then the run must refuse by name.
    new = f"{unique}:new-user"
    processed = f"{unique}:processed-user"
    try:
        made = _image_with_user_xattr(old_image, tmp_path, new, builders)
        if made is None:
            # This engine keeps no user.* xattr in an image, by build or by commit:
            # there is nothing such an attribute could be lost from.
            print("this engine's images cannot hold user.* xattrs")
            return
        result = _optimize(kit, old_image, new, processed)
        if result.returncode == 0:
            # This engine's archives carry it: then the image must have it.
            assert container_xattrs(processed, "/app") == container_xattrs(new, "/app")
        else:
            assert result.returncode == 2, result.stderr
            assert "has the extended attribute user.origin" in result.stderr
            assert "Traceback" not in result.stderr
            exists = sh(["docker", "image", "inspect", processed], kit, check=False)
            assert exists.returncode != 0, "a refused run tagged the image"
    finally:
        sh(["docker", "image", "rm", "-f", new, processed], kit, check=False)
