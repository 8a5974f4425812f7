import pytest
from hypothesis import given
from hypothesis import strategies as st

from difflayers.core.names import (
    check_tree_path,
    decode_rsync_name,
    encode_rsync_name,
    join_under,
    stand_ins_under,
)
from difflayers.errors import PathProblem

names = st.binary(min_size=1, max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape"))


@given(names)
def test_escape_round_trip(name):
    encoded = encode_rsync_name(name)
    assert b"\n" not in encoded and b"\t" not in encoded
    assert decode_rsync_name(encoded) == name


def test_backslash_is_escaped_only_before_a_code():
    assert encode_rsync_name("a\\b") == b"a\\b"
    assert encode_rsync_name("a\\#123") == b"a\\#134#123"


@pytest.mark.parametrize("path", ["", "app", "/", "/app/../etc", "/app/", "//app", "/a:b", "/a\nb"])
def test_bad_tree_paths(path):
    with pytest.raises(PathProblem):
        check_tree_path(path)


def test_the_whole_image_is_a_path_where_nothing_is_copied_into_a_volume():
    assert check_tree_path("/", "--path", volume_target=False) == "/"
    with pytest.raises(PathProblem, match="BuildKit"):
        check_tree_path("/")


@pytest.mark.parametrize(
    "listed", ["/app /root/.npm", "/app,/root/.npm", "/app, /root/.npm", "/app;/root/.npm"]
)
def test_a_list_given_to_the_compose_kit_is_named_as_one_with_the_union_to_use(listed):
    with pytest.raises(PathProblem) as refused:
        check_tree_path(listed)
    said = str(refused.value)
    assert "one directory, not a list (/app, /root/.npm)" in said and "--path /app --path /root/.npm" in said
    assert check_tree_path("/my app", "--path") == "/my app"  # a space in a name is not a list


def test_dockers_stand_ins_are_found_at_and_below_a_path():
    assert len(stand_ins_under("/")) == 10
    assert stand_ins_under("/etc") == ["/etc/hostname", "/etc/hosts", "/etc/mtab", "/etc/resolv.conf"]
    assert stand_ins_under("/dev/pts") == ["/dev/pts"]
    assert stand_ins_under("/app") == stand_ins_under("/et") == stand_ins_under("/dev/pts/0") == []


def test_good_tree_path_and_join():
    assert check_tree_path("/srv/my app") == "/srv/my app"
    assert join_under("/app", ".") == "/app"
    assert join_under("/app", "a b/c") == "/app/a b/c"


@pytest.mark.parametrize(
    "path, hint",
    [
        ("//app", "try '/app'"),
        ("/app/", "try '/app'"),
        ("/app/../etc", "try '/etc'"),
        ("/a/./b", "try '/a/b'"),
    ],
)
def test_unnormalised_paths_get_a_hint_that_works(path, hint):
    with pytest.raises(PathProblem, match=hint) as raised:
        check_tree_path(path, "--path")
    assert str(raised.value).startswith("--path must be normalised")
    suggested = hint.split("'")[1]
    assert check_tree_path(suggested, "--path") == suggested


def test_colons_and_newlines_only_matter_for_volume_targets():
    for path in ("/srv/a:b", "/srv/new\nline"):
        assert check_tree_path(path, "--path", volume_target=False) == path
        with pytest.raises(PathProblem, match="volume target"):
            check_tree_path(path, "--path")


def test_under_any_walks_up_the_components():
    from difflayers.core.names import under_any

    assert under_any("a/b/c", {"a/b"}) and under_any("a/b", {"a/b"})
    assert not under_any("a/bc", {"a/b"}) and not under_any("a", {"a/b"})
    assert under_any("x/y", {"."}) and under_any(".", {"."}) and not under_any("x", set())


def test_only_digests_under_a_registry_host_are_asked_for_a_manifest():
    """containerd's store gives every image built here ``name@sha256:...``: a
    Docker Hub name by the grammar, never sent there (``pipeline._as_pulled``,
    ``core.reference.names_a_host``)."""
    from difflayers.core.reference import names_a_host

    assert names_a_host("127.0.0.1:5000/app@sha256:ab")
    assert names_a_host("ghcr.io/org/app@sha256:ab") and names_a_host("localhost/app@sha256:ab")
    assert names_a_host("[::1]:5000/app@sha256:ab")
    assert not names_a_host("app@sha256:ab") and not names_a_host("org/app@sha256:ab")
