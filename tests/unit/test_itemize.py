"""The itemized-log parser, one row per rsync flag pattern (see rsync(1))."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from difflayers.core.itemize import iter_lines, parse, parse_line
from difflayers.errors import LogParseError, UnsafePath

# (line as rsync prints it, update, kind, path, significant, created)
ROWS = [
    (b">f+++++++++ new.txt", ">", "f", "new.txt", True, True),
    (b">fcst...... changed.txt", ">", "f", "changed.txt", True, False),
    (b">fc........ same-size.txt", ">", "f", "same-size.txt", True, False),
    (b".f...p..... mode-only", ".", "f", "mode-only", True, False),
    (b".f....o.... owner-only", ".", "f", "owner-only", True, False),
    (b".f.....g... group-only", ".", "f", "group-only", True, False),
    (b".f..t...... touched-only", ".", "f", "touched-only", False, False),
    (b".f........x xattr-only", ".", "f", "xattr-only", True, False),
    (b"cd+++++++++ newdir/", "c", "d", "newdir", True, True),
    (b".d...p..... ./", ".", "d", ".", True, False),
    (b".d...p..... dir/", ".", "d", "dir", True, False),
    (b"cL+++++++++ link", "c", "L", "link", True, True),
    (b"cL.st...... retargeted", "c", "L", "retargeted", True, False),
    (b".L..t...... link-touched", ".", "L", "link-touched", False, False),
    (b"hf+++++++++ second-name", "h", "f", "second-name", True, True),
    (b"cS+++++++++ fifo", "c", "S", "fifo", True, True),
    (b"cD+++++++++ device", "c", "D", "device", True, True),
    (b"*deleting   gone.txt", "*", "?", "gone.txt", True, False),
    (b"*deleting   gone-dir/", "*", "d", "gone-dir", True, False),
]


@pytest.mark.parametrize("line,update,kind,path,significant,created", ROWS)
def test_flags(line, update, kind, path, significant, created):
    item = parse_line(line)
    assert (item.update, item.kind, item.path) == (update, kind, path)
    assert item.is_significant is significant
    assert item.is_creation is created or item.is_hardlink


NAME_ROWS = [
    (rb"  leading spaces", "  leading spaces"),
    (rb"trailing spaces  ", "trailing spaces  "),
    (b"tab\there", "tab\there"),
    (rb"new\#012line", "new\nline"),
    (rb"back\slash", "back\\slash"),
    (rb"lit\\#012eral", "lit\\\neral"),
    (b"quote'\"*?[", "quote'\"*?["),
    (b"-leading-dash", "-leading-dash"),
    (b"arrow -> text", "arrow -> text"),
    (rb"caf\#303\#251 \#360\#237\#220\#263", "caf\u00e9 \U0001f433"),
    (rb"latin1-\#351", "latin1-\udce9"),
    (b"d/" + b"n" * 250, "d/" + "n" * 250),
]


@pytest.mark.parametrize("raw,name", NAME_ROWS)
def test_names_are_decoded_exactly(raw, name):
    assert parse_line(b">f+++++++++ " + raw).path == name


@pytest.mark.parametrize(
    "line",
    [b"", b"short", b">f+++++++++", b"xf+++++++++ bad-update", b">q+++++++++ bad-kind", b">f+++++++++\tname"],
)
def test_unknown_lines_are_refused(line):
    with pytest.raises(LogParseError):
        parse_line(line, 7)


@pytest.mark.parametrize("name", [b"../escape", b"/etc/passwd", b"a/../../b", b"a//b", b"./x"])
def test_names_leaving_the_tree_are_refused(name):
    with pytest.raises(UnsafePath):
        parse_line(b">f+++++++++ " + name)


def test_parse_keeps_spaces_and_skips_only_empty_lines():
    log = io.BytesIO(b">f+++++++++  a \n\n*deleting   b\n")
    items = list(parse(iter_lines(log)))
    assert [i.path for i in items] == [" a ", "b"]


def test_error_names_the_line_number():
    with pytest.raises(LogParseError, match="line 2"):
        list(parse([b">f+++++++++ ok", b"garbage"]))


flag_strategy = st.sampled_from(
    [
        ">f+++++++++",
        ">fcst......",
        ".f...p.....",
        "cL+++++++++",
        "cd+++++++++",
        "hf+++++++++",
        "*deleting  ",
        ".d..t......",
    ]
)
name_strategy = st.binary(min_size=0, max_size=40).filter(lambda b: b"\n" not in b) | st.sampled_from(
    [b"./", b"a/", b"/abs", b"a/../b", b"a//b", b"x\\#012y", b"..", b"."]
)


@given(flag_strategy, name_strategy)
def test_fast_path_agrees_with_parse_line(flags, name):
    line = flags.encode() + b" " + name
    try:
        expected = [parse_line(line, 1)]
    except (LogParseError, UnsafePath) as exc:
        with pytest.raises(type(exc)):
            list(parse([line]))
        return
    assert list(parse([line])) == expected
