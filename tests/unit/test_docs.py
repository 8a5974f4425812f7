"""The docs say what the code does: every variable the kit reads is listed."""

from pathlib import Path

from difflayers.errors import ExitCode
from difflayers.settings import VARIABLES

ROOT = Path(__file__).resolve().parents[2]


def test_every_variable_is_in_the_guide_and_the_reference():
    for doc in ("docs/guide.md", "docs/cli.md"):
        text = (ROOT / doc).read_text()
        for name, meaning in VARIABLES.items():
            assert f"| `{name}` | {meaning} |" in text, (doc, name)


def test_every_exit_code_is_in_the_reference():
    text = (ROOT / "docs/cli.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in text, code
