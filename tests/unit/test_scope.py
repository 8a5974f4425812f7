"""Several --path options: their union, and the plans refused for reaching outside it."""

import pytest

from difflayers.core.plan import Plan
from difflayers.core.scope import Paths, refuse_outside_paths, require_directories, union
from difflayers.core.treeindex import Entry
from difflayers.errors import ChangesOutsidePaths, PathProblem


def test_the_union_is_compared_under_the_folder_holding_every_path():
    assert union(["/root/.npm", "/app", "/app"]) == Paths(("/app", "/root/.npm"))
    assert union(["/root/.npm", "/app"]).root == "/"
    assert union(["/srv/app/static", "/srv/app/media"]).root == "/srv/app"
    assert union(["/app", "/app/static", "/app-data"]).members == ("/app", "/app-data")
    assert union(["/app", "/"]).members == ("/",)


@pytest.mark.parametrize("bad", ["app", "/app/", "/app/../etc", ""])
def test_each_path_is_checked_as_a_single_one_is(bad):
    with pytest.raises(PathProblem):
        union(["/srv", bad])


def test_a_plan_inside_the_paths_and_their_folders_is_shipped():
    paths = union(["/app", "/root/.npm"])
    plan = Plan(
        additions=(".", "app", "app/main.py", "root", "root/.npm", "root/.npm/_cacache/x"),
        removals=("app/old.py", "root/.npm/stale"),
    )
    refuse_outside_paths(paths, plan)  # the root and /root are folders above a path: their mtimes move
    assert paths.outside(plan.additions + plan.removals) == []


def test_a_plan_reaching_outside_the_paths_is_refused_naming_where():
    paths = union(["/app", "/root/.npm"])
    plan = Plan(
        additions=("app/main.py", "etc/apt/sources.list", "etc/hostname", "root/.bashrc", "top-file"),
        removals=("usr/share/doc/zlib1g",),
    )
    with pytest.raises(ChangesOutsidePaths) as refused:
        refuse_outside_paths(paths, plan)
    said = str(refused.value)
    assert "outside /app, /root/.npm in 5 entries" in said
    assert "/etc (2)" in said and "/root (1)" in said and "/usr (1)" in said and "/ (1)" in said
    assert "first: /etc/apt/sources.list" in said and "--path /etc" in said and "nothing was made" in said


def test_a_plan_of_a_folder_that_holds_a_path_only_by_its_name_is_refused():
    # /app-data is not under /app, and /ap is not above it: names, not string prefixes.
    paths = union(["/app", "/srv/x"])
    assert paths.outside(["app-data/a", "ap", "srv/xy", "srv"]) == ["/app-data/a", "/ap", "/srv/xy"]


def test_one_path_refuses_nothing_here():
    refuse_outside_paths(None, Plan(additions=("etc/x",)))
    refuse_outside_paths(union(["/app"]), Plan(additions=("etc/x",)))  # one path: its own checks


def test_each_path_of_a_union_must_be_a_directory_in_new():
    def entry(name, kind):
        return Entry(name, kind, 0o755, 0, 0)

    paths = union(["/app", "/root/.npm", "/srv"])
    tree = [entry(name, "d") for name in (".", "app", "root", "root/.npm")] + [entry("srv", "l")]
    with pytest.raises(PathProblem, match=r"^/srv: not a directory in app:2 \(linux/arm64\)"):
        require_directories(paths, tree, "app:2 (linux/arm64)")
    require_directories(union(["/app", "/root/.npm"]), tree, "app:2")
    require_directories(None, [], "app:2")
