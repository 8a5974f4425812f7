"""The command line: what each command accepts and refuses, before any engine is reached."""

import pytest

from difflayers.cli.main import parse
from difflayers.cli.parser import build_parser
from difflayers.errors import ConfigFileError, ExitCode
from difflayers.settings import Environment, read_project_file


def refused(argv, capsys, cwd):
    with pytest.raises(SystemExit) as stop:
        parse(argv, cwd=cwd)
    assert stop.value.code == ExitCode.BAD_INPUT
    return capsys.readouterr().err


def test_help_lists_user_commands_only(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for command in ("optimize", "diff", "verify", "report", "prune"):
        assert command in out
    for internal in ("compare-trees", "diff-trees", "summarize", "generate"):
        assert internal not in out


@pytest.mark.parametrize("command", ["optimize", "diff", "verify", "report"])
def test_every_command_has_an_example_and_takes_quiet(command, capsys, tmp_path):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    assert "example:\n  difflayers " + command in capsys.readouterr().out
    argv = {"report": ["report", "img", "-q"], "verify": ["verify", "a", "b", "--quiet"]}.get(
        command, [command, "a", "b", "--path", "/app", "-t", "x:1", "-q"]
    )
    if command == "diff":
        argv.remove("-t"), argv.remove("x:1")
    assert parse(argv, cwd=tmp_path).quiet is True
    assert parse([*argv, "-v"], cwd=tmp_path).verbose is True
    assert parse(["-v", *argv], cwd=tmp_path).verbose is True


def test_allow_config_drift_needs_the_dockerfile_method(capsys, tmp_path):
    base = ["optimize", "a", "b", "--path", "/app", "-t", "x:1", "--allow-config-drift"]
    assert "--method dockerfile only" in refused(base, capsys, tmp_path)
    assert refused([*base, "--method", "layer"], capsys, tmp_path)
    assert parse([*base, "--method", "dockerfile"], cwd=tmp_path).allow_config_drift


def test_compare_trees_takes_no_output(capsys, tmp_path):
    argv = ["compare-trees", "--path", "/app", "--old", "{}", "--new", "{}", "--output", "x"]
    assert "unrecognized arguments: --output" in refused(argv, capsys, tmp_path)


def test_optimize_needs_a_path_and_a_tag(capsys, tmp_path):
    assert "needs --path" in refused(["optimize", "a", "b", "-t", "x:1"], capsys, tmp_path)
    assert "-t/--tag or --push" in refused(["optimize", "a", "b", "--path", "/app"], capsys, tmp_path)


@pytest.mark.parametrize("command", ["optimize", "diff", "verify", "index"])
def test_several_paths_are_their_union_not_one_silently_preferred(command, capsys, tmp_path):
    (tmp_path / "difflayers.yaml").write_text("path: /srv/app\n")  # a default is not a first --path
    argv = [command, "a", *(["b"] if command != "index" else []), "--path", "/app", "-t", "x:1"]
    argv = [a for a in argv if command == "optimize" or a not in ("-t", "x:1")]
    argv += ["-o", str(tmp_path / "index")] if command == "index" else []
    once = parse([*argv, "--path", "/app"], cwd=tmp_path)
    assert (once.path, once.paths) == ("/app", None)
    both = parse([*argv, "--path", "/root/.npm"], cwd=tmp_path)
    assert (both.path, both.paths.members) == ("/", ("/app", "/root/.npm"))
    nested = parse([*argv, "--path", "/app/static"], cwd=tmp_path)
    assert (nested.path, nested.paths) == ("/app", None)  # /app/static adds nothing
    assert "must be normalised" in refused([*argv, "--path", "/srv/"], capsys, tmp_path)


def test_project_file_gives_defaults_and_flags_win(tmp_path):
    (tmp_path / "difflayers.yaml").write_text(
        "path: /srv/app\nmethod: layer\ntag: app:next\npolicy:\n  max-deltas: 4\n  max-superseded-share: 1\n"
    )
    args = parse(["optimize", "a", "b"], cwd=tmp_path)
    assert (args.path, args.method, args.tag, args.max_deltas) == ("/srv/app", "layer", "app:next", 4)
    assert args.max_superseded_share == 1.0
    args = parse(
        ["optimize", "a", "b", "--path", "/app", "--method", "dockerfile", "-t", "t:1"], cwd=tmp_path
    )
    assert (args.path, args.method, args.tag) == ("/app", "dockerfile", "t:1")
    # verify compares what it is told to: the project's path does not narrow it.
    assert parse(["verify", "a", "b"], cwd=tmp_path).path is None


def test_config_flag_names_the_file(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("path: /opt\n")
    assert parse(["diff", "a", "b", "--config", str(other)], cwd=tmp_path).path == "/opt"
    with pytest.raises(ConfigFileError, match="no such file"):
        parse(["diff", "a", "b", "--config", str(tmp_path / "missing.yaml")], cwd=tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("path: [1, 2]\n", "path must be a str"),
        ("pth: /app\n", "unknown key 'pth'"),
        ("policy:\n  max-deltas: many\n", "policy.max-deltas must be a int"),
        ("policy:\n  max-deltas: true\n", "policy.max-deltas must be a int"),
        ("- path\n", "expected a mapping"),
        ("path: [\n", "not valid YAML"),
    ],
)
def test_bad_project_files_are_refused_with_the_key(tmp_path, text, message):
    path = tmp_path / "difflayers.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError, match=message.replace("[", r"\[")):
        read_project_file(path)


def test_environment_is_read_once_and_checked():
    env = Environment.read({"DIFFLAYERS_COMPARE": "volumes", "DIFFLAYERS_DEBUG": "1", "OLD_IMAGE": "a:1"})
    assert (env.compare, env.debug, env.old_image, env.output) == ("volumes", True, "a:1", "output")
    with pytest.raises(ConfigFileError, match="DIFFLAYERS_COMPARE"):
        Environment.read({"DIFFLAYERS_COMPARE": "copy"})


def test_exit_codes():
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 130, 141]
