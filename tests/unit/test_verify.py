import io
import tarfile

from difflayers.comparing.equality import compare_streamed, config_differences, read_tree, tree_differences


def tar_of(*members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            data = extra.get("data", b"")
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            info.mode = extra.get("mode", 0o644)
            info.linkname = extra.get("linkname", "")
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    buffer.seek(0)
    return buffer


def test_archive_of_one_path_is_named_from_root():
    tree = read_tree(
        tar_of(("app", tarfile.DIRTYPE, {}), ("app/a", tarfile.REGTYPE, {"data": b"x"})), root="/srv/app"
    )
    assert set(tree) == {"srv/app", "srv/app/a"}


def test_differences_name_each_path_and_field():
    a = read_tree(
        tar_of(
            ("x", tarfile.REGTYPE, {"data": b"1"}),
            ("gone", tarfile.REGTYPE, {}),
            ("l", tarfile.SYMTYPE, {"linkname": "t1"}),
        )
    )
    b = read_tree(
        tar_of(
            ("x", tarfile.REGTYPE, {"data": b"1", "mode": 0o755}),
            ("l", tarfile.SYMTYPE, {"linkname": "t2"}),
            ("new\nline", tarfile.REGTYPE, {}),
        )
    )
    lines = tree_differences(a, b)
    assert "differs: x: 0644 != 0755" in lines
    assert "differs: l: -> t1 != -> t2" in lines
    assert any(line.startswith("only in A: gone") for line in lines)
    assert any(line.startswith("only in B: 'new\\nline'") for line in lines)


def test_hardlink_groups_are_compared():
    linked = read_tree(
        tar_of(("a", tarfile.REGTYPE, {"data": b"s"}), ("b", tarfile.LNKTYPE, {"linkname": "a"}))
    )
    copies = read_tree(tar_of(("a", tarfile.REGTYPE, {"data": b"s"}), ("b", tarfile.REGTYPE, {"data": b"s"})))
    assert tree_differences(linked, copies) != []
    assert tree_differences(linked, linked) == []


def streamed(a_members, b_members) -> list:
    """``compare_streamed``'s lines: A held, B read as it streams."""
    lines, _ = compare_streamed(read_tree(tar_of(*a_members), with_groups=False), tar_of(*b_members))
    return lines


def test_b_read_as_it_streams_gives_the_held_comparison():
    reg, lnk, sym = tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE
    trees = [
        [("a", reg, {"data": b"s"}), ("b", lnk, {"linkname": "a"}), ("c", reg, {"data": b"c"})],
        [("a", reg, {"data": b"s"}), ("b", reg, {"data": b"s"}), ("c", reg, {"data": b"c"})],
        [("a", reg, {"data": b"t"}), ("b", lnk, {"linkname": "a"}), ("c", lnk, {"linkname": "a"})],
        [
            ("a", reg, {"data": b"s"}),
            ("c", reg, {"data": b"c", "mode": 0o600}),
            ("l", sym, {"linkname": "x"}),
        ],
        [("a", reg, {"data": b"t"}), ("b", lnk, {"linkname": "a"}), ("new\nline", reg, {})],
        [("a", reg, {"data": b"s"}), ("b", reg, {"data": b"s"}), ("c", lnk, {"linkname": "b"})],
        [],
    ]
    for a in trees:
        for b in trees:
            held = tree_differences(read_tree(tar_of(*a)), read_tree(tar_of(*b)))
            assert streamed(a, b) == held, (a, b)
    assert streamed(trees[0], trees[2]) != []


def test_env_order_does_not_matter_but_values_do():
    a = {"Os": "linux", "Config": {"Env": ["A=1", "B=2"], "Cmd": ["x"]}}
    b = {"Os": "linux", "Config": {"Env": ["B=2", "A=1"], "Cmd": ["x"]}}
    assert config_differences(a, b) == []
    b["Config"]["Env"] = ["A=1", "B=3"]
    assert config_differences(a, b) == ["config Env: {'A': '1', 'B': '2'} != {'A': '1', 'B': '3'}"]


def test_differences_outside_the_path_are_said_by_folder_most_first():
    from difflayers.comparing.inpass import outside_refusal, top_folders

    names = ["root/.npm/_cacache/a", "root/.npm/_cacache/b", "etc/extra.conf", ".dockerenv", "usr/lib/x/y.so"]
    assert top_folders(names) == {"/root/.npm": 2, "/.dockerenv": 1, "/etc": 1, "/usr/lib": 1}
    outside = {
        "differences": 5,
        "shown": ["only in NEW: root/.npm/_cacache/a"],
        "folders": top_folders(names),
    }
    said = outside_refusal(outside, "/app")
    assert said.startswith("NEW differs from OLD outside /app in 5 entries (/root/.npm (2), /.dockerenv (1)")
    assert "RUN --mount=type=cache" in said and "--path / (the whole image)" in said
    beside = {"differences": 2, "shown": ["only in NEW: srv/data/a"], "folders": {"/srv/data": 2}}
    assert "--path /srv, which covers them" in outside_refusal(beside, "/srv/app")
    assert outside_refusal({"differences": 0, "shown": []}, "/app") is None


def test_old_differing_from_its_from_image_outside_the_path_is_refused_too():
    """OLD in the engine, OLD and NEW each compared with their FROM image: NEW
    equal to it but OLD not means the image made (OLD's tree there) is not NEW."""
    from difflayers.comparing.inpass import outside_refusal

    old = {"differences": 1, "shown": ["only in OLD: etc/old.conf"], "folders": {"/etc": 1}}
    said = outside_refusal({"differences": 0, "shown": [], "old": old}, "/app")
    assert said.startswith("OLD differs from the image it was built FROM outside /app in 1 entries")
    assert "only in OLD: etc/old.conf" in said and "nothing was made" in said
    equal = {"differences": 0, "shown": [], "folders": {}}
    assert outside_refusal({"differences": 0, "shown": [], "old": equal}, "/app") is None
