"""The Docker CLI plugin's protocol (pure): its metadata, and the arguments it passes on."""

import json

from difflayers import __version__
from difflayers.cli import plugin


def test_the_metadata_call_answers_the_docker_cli(capsys):
    assert plugin.main(["docker-cli-plugin-metadata"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["SchemaVersion"] == "0.1.0" and answered["Version"] == __version__
    assert answered["Vendor"] and answered["ShortDescription"]


def test_the_plugins_name_is_dropped_and_the_rest_passed_on():
    assert plugin.arguments(["difflayers", "optimize", "a:1", "a:2", "--path", "/app"]) == [
        "optimize",
        "a:1",
        "a:2",
        "--path",
        "/app",
    ]
    assert plugin.arguments(["optimize", "a:1"]) == ["optimize", "a:1"]  # run by hand, as docker-difflayers
    assert plugin.arguments(["docker-cli-plugin-metadata"]) is None
