"""``difflayers.optimize(...)``: the kit from Python, on the real engine."""

import pytest

import difflayers
from difflayers.errors import DiffLayersError, ExitCode, ImageNotFound, PathProblem

from .conftest import sh
from .independent import config_differences, tree_differences

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def revisions(tmp_path_factory, unique_module):
    root = tmp_path_factory.mktemp("api")
    (root / "app").mkdir()
    (root / "app" / "big.bin").write_bytes(b"x" * (1 << 20))
    (root / "Dockerfile").write_text('FROM scratch\nCOPY app /app\nCMD ["/app/run"]\n')
    tags = {}
    for n in (1, 2):
        (root / "app" / "version.txt").write_text(f"revision {n}\n")
        tags[n] = f"difflayers-test-api-{unique_module}:{n}"
        sh(["docker", "build", "-q", "-t", tags[n], "."], root)
    yield tags
    sh(
        ["docker", "image", "rm", "-f", *tags.values(), f"difflayers-test-api-{unique_module}:made"],
        ".",
        check=False,
    )


@pytest.mark.store  # the API's run on each store's images
def test_optimize_returns_a_result_with_the_summary(revisions, unique_module):
    made = f"difflayers-test-api-{unique_module}:made"
    result = difflayers.optimize(revisions[1], revisions[2], "/app", tag=made, method="layer")
    assert isinstance(result, difflayers.Result)
    assert (result.image, result.method, result.new, result.changed, result.removed) == (
        made,
        "layer",
        0,
        1,
        0,
    )
    assert result.verified and result.check == "construction" and not result.rebased and result.pushed is None
    assert result.bytes_added == len("revision 2\n") and result.summary["tag"] == made
    assert tree_differences(revisions[2], made) == [] and config_differences(revisions[2], made) == []


def test_errors_are_raised_typed_never_printed(revisions, capsys):
    with pytest.raises(ImageNotFound) as raised:
        difflayers.optimize("difflayers-test-api-absent:1", revisions[2], "/app", tag="x:y")
    assert isinstance(raised.value, DiffLayersError) and raised.value.exit_code == ExitCode.BAD_INPUT
    # Several paths are their union; each must be a directory in NEW, checked before any work.
    with pytest.raises(PathProblem, match="/nowhere does not exist in image"):
        difflayers.optimize(revisions[1], revisions[2], ["/app", "/nowhere"], tag="x:y")
    assert capsys.readouterr().out == ""
