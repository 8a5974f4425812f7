import json

import pytest

from difflayers.core.configdelta import ConfigDelta
from difflayers.core.plan import Plan
from difflayers.errors import NotExpressible
from difflayers.methods.dockerfile import ImageRef, removal_commands, render_dockerfile, render_removal_list

OLD, NEW = ImageRef("app:1", "sha256:aaa"), ImageRef("app:2", "sha256:bbb")


def render(plan, config=None, **kw):
    return render_dockerfile(
        old=OLD,
        new=NEW,
        path="/app",
        plan=plan,
        config=config or ConfigDelta(),
        has_delta=bool(plan.additions),
        **kw,
    )


def instructions(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_removals_then_delta_then_config():
    plan = Plan(additions=("a",), removals=("gone", "dir/x y"))
    text = render(plan, ConfigDelta(instructions=['CMD ["run"]']))
    assert instructions(text) == [
        "FROM app:1",
        'RUN ["/bin/rm", "-rf", "--", "/app/dir/x y", "/app/gone"]',
        "ADD delta.tar /",
        'CMD ["run"]',
    ]


def test_nothing_changed_is_just_from():
    assert instructions(render(Plan())) == ["FROM app:1"]


def test_run_as_root_when_old_has_another_user():
    text = render(Plan(removals=("x",)), run_as_root=True)
    assert instructions(text)[1:3] == ["USER 0", 'RUN ["/bin/rm", "-rf", "--", "/app/x"]']


def test_odd_names_stay_one_json_argument():
    name = 'new\nline "quoted" \\ $HOME \u00e9'
    (command,) = removal_commands(["/app/" + name])
    assert "\n" not in command
    assert json.loads(command)[-1] == "/app/" + name


def test_long_removal_lists_are_split():
    commands = removal_commands([f"/app/{i:06d}-" + "x" * 200 for i in range(1000)])
    assert len(commands) > 1
    assert sum(len(json.loads(c)) - 3 for c in commands) == 1000


def test_non_utf8_names_are_refused():
    with pytest.raises(NotExpressible):
        removal_commands(["/app/latin1-\udce9"])


def test_removal_list_is_one_escaped_name_a_line():
    text = render_removal_list("/app", Plan(removals=("b\nc", "a")))
    assert text == "/app/a\n/app/b\\#012c\n"
