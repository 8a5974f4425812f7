"""The in-place comparison's Dockerfile and when it may be used (no engine)."""

import json

import pytest

from difflayers.comparing.mounts import usable
from difflayers.methods.dockerfile import render_compare_dockerfile


@pytest.mark.parametrize(
    "old, new, path, ok",
    [
        ("app:1", "app:2", "/app", True),
        ("127.0.0.1:5000/team/app:1", "app@sha256:" + "a" * 64, "/srv/app", True),
        ("sha256:" + "a" * 64, "app:2", "/app", False),  # an ID would be read as a Hub name
        ("app:1", "app:2", "/my app", False),  # a space would end the mount option
        ("app:1", "app:2", "/app,rw", False),
        ("app:1", "app:2", "/a/../etc", False),
        ("App:1", "app:2", "/app", False),
    ],
)
def test_only_plain_names_and_paths_go_into_the_mounts(old, new, path, ok):
    assert usable(old, new, path) is ok


def test_the_dockerfile_mounts_both_images_and_runs_the_differ_in_exec_form():
    command = ["python3", "-m", "difflayers", "compare-trees", "--old", '{"ref":"a:1"}']
    text = render_compare_dockerfile(
        tool_image="kit:local", old_ref="a:1", new_ref="a:2", path="/app", command=command
    )
    assert "FROM kit:local AS compare" in text
    assert "--mount=type=bind,from=a:1,source=/app,target=/trees/old" in text
    assert "--mount=type=bind,from=a:2,source=/app,target=/trees/new" in text
    run_line = next(line for line in text.splitlines() if line.strip().startswith('["python3"'))
    assert json.loads(run_line.strip()) == command
    assert text.rstrip().endswith("COPY --from=compare /out /")


def test_the_whole_roots_and_the_from_image_are_mounted_for_the_layer_mode_only():
    command = ["python3", "-m", "difflayers", "compare-trees"]
    common = {
        "tool_image": "kit:local",
        "old_ref": "a:1",
        "new_ref": "a:2",
        "path": "/app",
        "command": command,
    }
    layer = render_compare_dockerfile(**common, whole_roots=True, base_ref="base:1")
    assert "--mount=type=bind,from=a:2,target=/trees/new-root" in layer
    assert "--mount=type=bind,from=base:1,target=/trees/base-root" in layer
    assert json.loads(layer.splitlines()[-3].strip()) == command  # still one RUN, the command last
    delta = render_compare_dockerfile(**common, base_ref="base:1")
    assert "base-root" not in delta and "new-root" not in delta
