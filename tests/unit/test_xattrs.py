"""Extended attributes: compared by verify, carried by both writers, or refused."""

import contextlib
import io
import tarfile
from dataclasses import replace

import pytest
from tarstream import engine_like_tar, entry

from difflayers.archives.delta import write_delta
from difflayers.archives.layer import write_layer
from difflayers.comparing.equality import read_tree, tree_differences
from difflayers.core.plan import Plan
from difflayers.errors import XattrNotCarried

CAP = "\x01\x00\x00\x02\x00 \x00\x00" + "\x00" * 12  # cap_net_raw+ep, as the engine's archives write it


def tree(cap=None):
    members = [entry("app", tarfile.DIRTYPE, mode=0o755), entry("app/t", data=b"same")]
    if cap is not None:
        members[1][0].pax_headers = {"SCHILY.xattr.security.capability": cap}
    return members


def test_verify_sees_a_capability_only_difference():
    plain, capable = read_tree(engine_like_tar(tree())), read_tree(engine_like_tar(tree(CAP)))
    lines = tree_differences(plain, capable)
    assert len(lines) == 1 and lines[0].startswith("differs: app/t: (none) != xattr security.capability=0100")
    assert tree_differences(capable, read_tree(engine_like_tar(tree(CAP)))) == []


def test_the_delta_archive_carries_the_capability():
    out = io.BytesIO()
    write_delta(engine_like_tar(tree(CAP)), out, tree_path="/app", plan=Plan(additions=("t",)))
    out.seek(0)
    member = {m.name: m for m in tarfile.open(fileobj=out)}["app/t"]
    assert member.pax_headers["SCHILY.xattr.security.capability"] == CAP


def _layer(tmp_path, members, plan):
    @contextlib.contextmanager
    def source():
        yield engine_like_tar(members)

    write_layer(source, tmp_path / "layer.tar", tree_path="/app", plan=plan, ancestors=[])
    return {m.name: m for m in tarfile.open(tmp_path / "layer.tar")}


def test_the_layer_carries_the_capability(tmp_path):
    plan = Plan(additions=("t",), changed=1, kinds={"t": "f"})
    member = _layer(tmp_path, tree(CAP), replace(plan, xattrs={"t": ("security.capability",)}))["app/t"]
    assert member.pax_headers["SCHILY.xattr.security.capability"] == CAP


@pytest.mark.parametrize("writer", ["delta", "layer"])
def test_an_attribute_the_stream_lacks_is_refused_by_name(tmp_path, writer):
    # The differ saw user.origin on NEW's /app/t (a container sees it); the
    # engine's archive does not carry it. Shipping the file without it would
    # make the processed image differ from NEW while looking the same.
    plan = Plan(
        additions=("t",), changed=1, kinds={"t": "f"}, xattrs={"t": ("security.capability", "user.origin")}
    )
    with pytest.raises(XattrNotCarried, match="'app/t' has the extended attribute user.origin"):
        if writer == "delta":
            write_delta(engine_like_tar(tree(CAP)), io.BytesIO(), tree_path="/app", plan=plan)
        else:
            _layer(tmp_path, tree(CAP), plan)
