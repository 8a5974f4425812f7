import pytest

from difflayers.core.configdelta import config_delta
from difflayers.errors import NotExpressible


def test_identical_config_needs_nothing():
    cfg = {"Env": ["PATH=/bin"], "Cmd": ["bash"], "Labels": {"a": "b"}}
    delta = config_delta(cfg, dict(cfg))
    assert delta.instructions == [] and delta.drift == []


def _with_path(config):
    return {**config, "Env": ["PATH=/bin", *config.get("Env", [])]}


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ({"Env": ["A=1"]}, {"Env": ["A=2"]}, ['ENV A="2"']),
        ({}, {"Env": ['Q=$HOME "x" \\']}, ['ENV Q="\\$HOME \\"x\\" \\\\"']),
        ({}, {"Labels": {"b": "2", "a": "1"}}, ['LABEL "a"="1"', 'LABEL "b"="2"']),
        ({"ExposedPorts": {"80/tcp": {}}}, {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}, ["EXPOSE 53/udp"]),
        ({}, {"Volumes": {"/data": {}}}, ['VOLUME ["/data"]']),
        ({}, {"WorkingDir": "/app"}, ["WORKDIR /app"]),
        ({}, {"User": "app:app"}, ["USER app:app"]),
        ({}, {"StopSignal": "SIGINT"}, ["STOPSIGNAL SIGINT"]),
        ({"Cmd": ["a"]}, {"Cmd": ["b", "c d"]}, ['CMD ["b", "c d"]']),
        ({"Cmd": ["a"]}, {"Entrypoint": ["/e"], "Cmd": ["a"]}, ['ENTRYPOINT ["/e"]', 'CMD ["a"]']),
        (
            {},
            {"Healthcheck": {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Retries": 2}},
            ['HEALTHCHECK --interval=5000000000ns --retries=2 CMD ["true"]'],
        ),
        (
            {},
            {"Healthcheck": {"Test": ["CMD-SHELL", "curl -f x || exit 1"]}},
            ["HEALTHCHECK CMD curl -f x || exit 1"],
        ),
        ({"Healthcheck": {"Test": ["CMD", "x"]}}, {"Healthcheck": {"Test": ["NONE"]}}, ["HEALTHCHECK NONE"]),
    ],
)
def test_instructions(old, new, expected):
    # Both have a PATH, as built images do (see the PATH test below).
    delta = config_delta(_with_path(old), _with_path(new))
    assert delta.instructions == expected
    assert delta.drift == []


@pytest.mark.parametrize(
    "old,new,word",
    [
        ({"Env": ["A=1"]}, {}, "ENV A"),
        ({"Labels": {"x": "1"}}, {}, "LABEL x"),
        ({"ExposedPorts": {"80/tcp": {}}}, {}, "EXPOSE 80/tcp"),
        ({"Volumes": {"/v": {}}}, {}, "VOLUME /v"),
        ({"User": "app"}, {}, "USER"),
        ({"Cmd": ["x"]}, {}, "CMD"),
        ({"Entrypoint": ["x"]}, {}, "ENTRYPOINT"),
    ],
)
def test_what_a_dockerfile_cannot_remove_is_drift(old, new, word):
    delta = config_delta(old, new)
    assert any(item.startswith(word) for item in delta.drift), delta.drift


def test_line_breaks_in_values_are_refused():
    with pytest.raises(NotExpressible):
        config_delta({}, {"Env": ["A=line\nbreak"]})


def test_no_path_in_new_is_drift_since_builders_add_one():
    # Images made by `docker import` have no Env at all; a build FROM them gets PATH.
    assert "ENV PATH (NEW has none; a Dockerfile build adds a default one)" in config_delta({}, {}).drift
    assert config_delta({"Env": ["PATH=/bin"]}, {"Env": ["PATH=/bin"]}).drift == []
    assert "ENV PATH (NEW does not set it)" in config_delta({"Env": ["PATH=/bin"]}, {}).drift
