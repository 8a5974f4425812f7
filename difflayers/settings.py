"""Configuration in one place: the environment variables and the project file.

Every variable the kit reads is read here, once (``Environment.read``), and
listed in ``VARIABLES`` (the README's table says the same). The project file,
``difflayers.yaml`` beside the Dockerfile (the current folder) or named by
``--config``, holds the options a project always passes; flags override it.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from difflayers.errors import ConfigFileError

PROJECT_FILE = "difflayers.yaml"

VARIABLES = {
    "DIFFLAYERS_DEBUG": "1: errors print a traceback before their line (the exit status stays the same)",
    "DIFFLAYERS_ENGINE_TIMEOUT": "seconds an engine call may go without an answer before the run stops "
    "with exit 2 (default 60, the docker SDK's; a push through the engine waits on the registry too)",
    "DIFFLAYERS_COMPARE": "auto (default), mounts or volumes: how the CLI reads the trees: mounted in place "
    "(BuildKit), or through containers (copies, archives)",
    "DIFFLAYERS_DOCKER_CLI": "the docker CLI that builds with BuildKit (default: docker, /usr/bin/docker)",
    "DIFFLAYERS_BUILDER": "auto (default: BuildKit where a docker CLI has it), buildkit or classic: "
    "the Dockerfile method's builder",
    "DIFFLAYERS_OUTPUT": "the compose steps' output folder (default: output)",
    "OLD_IMAGE": "compose kit: OLD, the image already pushed",
    "NEW_IMAGE": "compose kit: NEW, the image just built",
    "RESTRICT_DIFF_TO_PATH": "compose kit: the directory compared in both images",
    "ALLOW_CONFIG_DRIFT": "compose kit: 1 builds even where NEW's config cannot be reproduced",
    "BYTE_EXACT": "compose kit: 1 ships byte-code that differs only in its embedded source mtime, "
    "with its source (default: OLD's equivalent pair stays)",
    "DOCKER_SOCKET": "compose kit: the engine's socket on this machine (default /var/run/docker.sock)",
    "DOCKER_HOST": "the engine to talk to (read by the docker SDK and CLI, as Docker does)",
    "DOCKER_CONFIG": "where Docker's config.json is (default ~/.docker): the logins `--push` uses, "
    "as `docker login` stored them",
    "DIFFLAYERS_CERTS_D": "the folder of registry CAs and client certificates, HOST/ca.crt as the engine "
    "reads them (default /etc/docker/certs.d)",
}

CERTS_D = "/etc/docker/certs.d"  # where the engine reads registry CAs; DIFFLAYERS_CERTS_D names another
COMPARE_CHOICES = ("auto", "mounts", "volumes")
BUILDER_CHOICES = ("auto", "buildkit", "classic")
ENGINE_TIMEOUT = 60  # seconds: the docker SDK's default read timeout


@dataclass(frozen=True)
class Environment:
    """The variables of ``VARIABLES`` that the kit itself acts on."""

    debug: bool = False
    compare: str = "auto"
    docker_cli: str | None = None
    builder: str = "auto"
    output: str = "output"
    old_image: str = ""
    new_image: str = ""
    restrict_path: str = ""
    allow_config_drift: bool = False
    byte_exact: bool = False
    certs_d: str = CERTS_D
    engine_timeout: int = ENGINE_TIMEOUT

    @classmethod
    def read(cls, environ=None) -> "Environment":
        env = os.environ if environ is None else environ
        compare = env.get("DIFFLAYERS_COMPARE") or "auto"
        if compare not in COMPARE_CHOICES:
            raise ConfigFileError(f"DIFFLAYERS_COMPARE={compare!r}: use one of {', '.join(COMPARE_CHOICES)}")
        builder = env.get("DIFFLAYERS_BUILDER") or "auto"
        if builder not in BUILDER_CHOICES:
            raise ConfigFileError(f"DIFFLAYERS_BUILDER={builder!r}: use one of {', '.join(BUILDER_CHOICES)}")
        timeout = env.get("DIFFLAYERS_ENGINE_TIMEOUT") or str(ENGINE_TIMEOUT)
        if not timeout.isdigit() or int(timeout) < 1:
            raise ConfigFileError(f"DIFFLAYERS_ENGINE_TIMEOUT={timeout!r}: give whole seconds, 1 or more")
        return cls(
            debug=env.get("DIFFLAYERS_DEBUG") == "1",
            engine_timeout=int(timeout),
            builder=builder,
            compare=compare,
            docker_cli=env.get("DIFFLAYERS_DOCKER_CLI") or None,
            output=env.get("DIFFLAYERS_OUTPUT") or "output",
            old_image=env.get("OLD_IMAGE", ""),
            new_image=env.get("NEW_IMAGE", ""),
            restrict_path=env.get("RESTRICT_DIFF_TO_PATH", ""),
            allow_config_drift=env.get("ALLOW_CONFIG_DRIFT") == "1",
            byte_exact=env.get("BYTE_EXACT") == "1",
            certs_d=env.get("DIFFLAYERS_CERTS_D") or CERTS_D,
        )


# Keys of difflayers.yaml -> (the option's dest in the parser, type).
_KEYS = {
    "path": ("path", str),
    "method": ("method", str),
    "tag": ("tag", str),
    "push": ("push", str),
    "plain-http": ("plain_http", bool),
    "byte-exact": ("byte_exact", bool),
}
_POLICY_KEYS = {
    "min-layers-left": ("min_layers_left", int),
    "max-superseded-share": ("max_superseded_share", float),
    "max-deltas": ("max_deltas", int),
    "rebase-to": ("rebase_to", str),
}


def find_project_file(named: str | None, folder: Path) -> Path | None:
    """The file ``--config`` names (it must exist), else difflayers.yaml in ``folder`` if there."""
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigFileError(f"--config {named}: no such file")
        return path
    path = folder / PROJECT_FILE
    return path if path.is_file() else None


def read_project_file(path: Path) -> dict:
    """Option values from ``path`` (dest -> value), checked key by key.

    Example::

        path: /app
        method: auto
        push: registry.example:5000/team/app:latest
        policy:
          max-deltas: 10
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a mapping of options, found {type(data).__name__}")
    values = _checked(path, data, {**_KEYS, "policy": ("policy", dict)})
    policy = values.pop("policy", None) or {}
    values.update(_checked(path, policy, _POLICY_KEYS, "policy."))
    return values


def _checked(path: Path, data: dict, keys: dict, prefix: str = "") -> dict:
    values = {}
    for key, value in data.items():
        if key not in keys:
            known = ", ".join(prefix + k for k in keys)
            raise ConfigFileError(f"{path}: unknown key {prefix}{key!r} (known: {known})")
        dest, kind = keys[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigFileError(f"{path}: {prefix}{key} must be a {kind.__name__}, not {value!r}")
        values[dest] = value
    return values
