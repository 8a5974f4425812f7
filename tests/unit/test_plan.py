from difflayers.core.itemize import parse
from difflayers.core.plan import collapse_removals, make_plan


def plan_of(*lines):
    return make_plan(parse(line.encode() for line in lines))


def test_sample_walkthrough_plan():
    plan = plan_of(
        "*deleting   sample-2.code",
        ">f+++++++++ Dockerfile.based-on-revision-1",
        ">fcst...... sample-1.code",
        ">f+++++++++ sample-4.code",
    )
    assert plan.additions == ("Dockerfile.based-on-revision-1", "sample-1.code", "sample-4.code")
    assert plan.removals == ("sample-2.code",)
    assert (plan.created, plan.changed) == (2, 1)


def test_time_only_changes_are_not_shipped():
    plan = plan_of(".f..t...... a", ".L..t...... b")
    assert plan.is_empty


def test_removed_directory_covers_its_children():
    plan = plan_of(
        "*deleting   d/x/y", "*deleting   d/x/", "*deleting   d/z", "*deleting   d/", "*deleting   e"
    )
    assert plan.removals == ("d", "e")


def test_directory_replaced_by_file_is_removed_whole():
    plan = plan_of("*deleting   x/child", ">f+++++++++ x")
    assert plan.removals == ("x",)
    assert plan.additions == ("x",)


def test_additions_put_a_directory_right_before_its_contents():
    plan = plan_of(">f+++++++++ a-c", "cd+++++++++ a/", ">f+++++++++ a/b")
    assert plan.additions == ("a", "a/b", "a-c")


def test_collapse_keeps_siblings_with_common_prefix():
    assert collapse_removals(["ab", "a", "a/b"]) == ["a", "ab"]
