"""The completion script, run by bash as the shell runs it on Tab (no engine)."""

import shutil
import subprocess

import pytest

from difflayers.cli.completion import script


def complete(words: str, shell_script: str) -> list:
    """What bash offers for the command line ``words`` (the last word is being typed)."""
    parts = words.split(" ")
    program = (
        f"{shell_script}\n"
        f"COMP_WORDS=({' '.join(repr(p) for p in parts)}); COMP_CWORD={len(parts) - 1}\n"
        "_difflayers; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_bash_completes_commands_and_each_commands_options():
    text = script("bash")
    assert complete("difflayers opt", text) == ["optimize"]
    assert complete("difflayers optimize --reb", text) == ["--rebase-ok", "--rebase-to"]
    assert "--byte-exact" in complete("difflayers verify --", text)
    assert complete("difflayers completion ", text) == ["bash", "zsh"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_loads_it():
    result = subprocess.run(
        ["zsh", "-c", script("zsh") + "\nwhence -w _difflayers"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "function" in result.stdout
