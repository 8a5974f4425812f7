"""The CLI's flow with a fake engine: what goes where, and the chain policy's layer count."""

import json
import tarfile
import types

from fake_engine import FakeEngine, image
from tarstream import entry

from difflayers import pipeline
from difflayers.core.chain import Decision, DecisionKind, Policy
from difflayers.core.diffrecord import DiffRecord, ImageRef
from difflayers.core.outputs import LOG_NAME, META_NAME, sha256_file
from difflayers.core.plan import Plan
from difflayers.methods import Method


def _diff_in(folder, old_config, new_config):
    log = folder / LOG_NAME
    log.write_bytes(b">f+++++++++ new-file\n")
    record = DiffRecord(
        "/app", ImageRef("app:1", "sha256:1"), ImageRef("app:2", "sha256:2"), log_sha256=sha256_file(log)
    )
    (folder / META_NAME).write_text(json.dumps(record.to_json()))
    engine = FakeEngine(
        {"app:1": image("sha256:1", old_config), "app:2": image("sha256:2", new_config)},
        {"app:2": [entry("app", tarfile.DIRTYPE), entry("app/new-file", data=b"hello")]},
    )
    return engine, pipeline.Diff(record, Plan(additions=("new-file",)), "volumes", folder)


def test_config_drift_warning_goes_to_progress_not_stdout(tmp_path, capsys):
    # NEW drops an ENV that OLD has: with --allow-config-drift the Dockerfile
    # method keeps OLD's value and warns. The warning must not reach stdout,
    # where --json prints.
    engine, found = _diff_in(tmp_path, {"Env": ["PATH=/bin", "DEBUG=1"]}, {"Env": ["PATH=/bin"]})
    lines = []
    start = pipeline.Start("app:1", found, Decision(DecisionKind.DELTA))
    made = pipeline._make(
        engine, Method.DOCKERFILE, start, "tag", pipeline.Options(allow_drift=True), None, lines.append
    )
    assert made.method is Method.DOCKERFILE
    assert engine.built == [("tag", ["Dockerfile", "delta.tar"])]
    assert any("DEBUG" in w for w in made.warnings)
    assert any(line.startswith("warning: keeping OLD's values") for line in lines)
    assert capsys.readouterr().out == ""


def test_a_naive_differ_gets_the_layer_method_where_auto(tmp_path, monkeypatch):
    # vfs (rootless Podman here) finds a step's changes by size and mtime: a
    # changed file of OLD's size and second would be left out of what the
    # Dockerfile builds. Auto takes the layer method there, without building.
    engine, found = _diff_in(tmp_path, {"Env": ["PATH=/bin"]}, {"Env": ["PATH=/bin"]})
    engine.naive_differ = "vfs"
    assembled = []

    def assemble(*args):
        assembled.append(args)
        return types.SimpleNamespace(layer=None)

    monkeypatch.setattr(pipeline, "assemble", assemble)
    lines = []
    start = pipeline.Start("app:1", found, Decision(DecisionKind.DELTA))
    made = pipeline._make(engine, Method.AUTO, start, "tag", pipeline.Options(), None, lines.append)
    assert made.method is Method.LAYER and len(assembled) == 1
    assert engine.built == []
    assert any("vfs" in line and "layer method" in line for line in lines)
    # Asked for, the Dockerfile method is built, with a warning.
    lines.clear()
    made = pipeline._make(engine, Method.DOCKERFILE, start, "tag", pipeline.Options(), None, lines.append)
    assert made.method is Method.DOCKERFILE and len(engine.built) == 1
    assert any(line.startswith("warning: the engine's vfs storage driver") for line in lines)


def _start(method, old_layers, policy):
    found = pipeline.Diff(
        DiffRecord("/app", ImageRef("o", "sha256:o"), ImageRef("n", "sha256:n")),
        Plan(additions=("a",), removals=("b",)),
        "volumes",
        None,
    )
    first = pipeline.Start("o", found, Decision(DecisionKind.DELTA))
    old = image("sha256:o", layers=old_layers)
    return pipeline._start(FakeEngine({}), policy, method, old, first, lambda text: None)


def test_the_layer_method_adds_one_layer_to_the_policy_count():
    # 122 layers + 1 leaves 2 below moby's 125; + 2 (RUN rm and ADD) leaves 1.
    policy = Policy(min_layers_left=2)
    assert _start(Method.LAYER, 122, policy).decision.kind is DecisionKind.DELTA
    decided = _start(Method.DOCKERFILE, 122, policy).decision
    assert decided.kind is DecisionKind.REBASE_NEW
    assert "124 layers" in decided.reasons[0]


def test_method_layer_counts():
    assert Method.LAYER.layers_added(True, True) == 1
    assert Method.LAYER.layers_added(False, False) == 0
    assert Method.DOCKERFILE.layers_added(True, True) == 2
    assert Method.AUTO.layers_added(True, False) == 1
