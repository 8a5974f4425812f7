"""NEW's runtime config as Dockerfile instructions on top of OLD's.

An image built ``FROM old`` inherits OLD's config; each field where NEW differs
becomes an instruction. Some differences have no Dockerfile form (a Dockerfile
can add an ENV, LABEL, port or volume but never remove one); those are
returned as drift so the caller can refuse, or go on when the user accepts.
"""

import json
import re
from dataclasses import dataclass, field

from difflayers.errors import BadInput, NotExpressible

_ENV_KEY = re.compile(r"^[^\s=]+$")


@dataclass
class ConfigDelta:
    """Instructions that make OLD's config NEW's, and what they cannot do."""

    instructions: list = field(default_factory=list)
    drift: list = field(default_factory=list)


def _quote(value: str, what: str) -> str:
    """Double-quote a value for ENV or LABEL; ``$`` is escaped against expansion."""
    if "\n" in value or "\r" in value:
        raise NotExpressible(f"{what} holds a line break, which a Dockerfile cannot carry")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=True)


def _env_map(env) -> dict:
    pairs = (entry.split("=", 1) for entry in env or [])
    return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}


def _duration(ns: int) -> str:
    # Dockerfile durations are parsed by Go's time.ParseDuration.
    return f"{ns}ns"


def _healthcheck(check: dict) -> str:
    test = check.get("Test") or []
    if not test or test == ["NONE"]:
        return "HEALTHCHECK NONE"
    options = []
    for key, flag in (
        ("Interval", "interval"),
        ("Timeout", "timeout"),
        ("StartPeriod", "start-period"),
        ("StartInterval", "start-interval"),
    ):
        if check.get(key):
            options.append(f"--{flag}={_duration(check[key])}")
    if check.get("Retries"):
        options.append(f"--retries={check['Retries']}")
    kind, args = test[0], test[1:]
    if kind == "CMD-SHELL" and len(args) == 1:
        # Shell form is what records CMD-SHELL; it must fit on one line.
        _quote(args[0], "HEALTHCHECK command")
        return " ".join(["HEALTHCHECK", *options, "CMD", args[0]])
    if kind == "CMD":
        return " ".join(["HEALTHCHECK", *options, "CMD", _json(args)])
    raise NotExpressible(f"HEALTHCHECK test {test!r} has no Dockerfile form")


def config_delta(old: dict, new: dict) -> ConfigDelta:
    """Compare two images' ``Config`` sections (as from ``docker inspect``)."""
    delta = ConfigDelta()
    out, drift = delta.instructions, delta.drift

    old_env, new_env = _env_map(old.get("Env")), _env_map(new.get("Env"))
    for key, value in new_env.items():
        if old_env.get(key) != value:
            if not _ENV_KEY.match(key):
                raise NotExpressible(f"ENV name {key!r} cannot be written in a Dockerfile")
            out.append(f"ENV {key}={_quote(value, f'ENV {key}')}")
    drift += [f"ENV {key} (NEW does not set it)" for key in old_env if key not in new_env]
    if "PATH" not in new_env and "PATH" not in old_env:
        # Both builders add a default PATH to an image built from a base
        # without one (an image made by `docker import`, say).
        drift.append("ENV PATH (NEW has none; a Dockerfile build adds a default one)")

    old_labels, new_labels = old.get("Labels") or {}, new.get("Labels") or {}
    for key in sorted(new_labels):
        if old_labels.get(key) != new_labels[key]:
            out.append(f"LABEL {_quote(key, 'LABEL name')}={_quote(new_labels[key], f'LABEL {key}')}")
    drift += [f"LABEL {key} (NEW does not set it)" for key in sorted(old_labels) if key not in new_labels]

    for name, instruction in (("ExposedPorts", "EXPOSE"), ("Volumes", "VOLUME")):
        old_set, new_set = set(old.get(name) or {}), set(new.get(name) or {})
        added = sorted(new_set - old_set)
        if added:
            words = _json(added) if instruction == "VOLUME" else " ".join(added)
            out.append(f"{instruction} {words}")
        drift += [f"{instruction} {item} (NEW does not have it)" for item in sorted(old_set - new_set)]

    for name, instruction in (("WorkingDir", "WORKDIR"), ("User", "USER"), ("StopSignal", "STOPSIGNAL")):
        old_value, new_value = old.get(name) or "", new.get(name) or ""
        if old_value != new_value:
            if new_value:
                out.append(f"{instruction} {new_value}")
            else:
                drift.append(f"{instruction} (NEW leaves it unset, OLD has {old_value!r})")

    if (old.get("Shell") or None) != (new.get("Shell") or None):
        if new.get("Shell"):
            out.append(f"SHELL {_json(new['Shell'])}")
        else:
            drift.append("SHELL (NEW leaves it unset)")

    if (old.get("Healthcheck") or None) != (new.get("Healthcheck") or None):
        if new.get("Healthcheck"):
            out.append(_healthcheck(new["Healthcheck"]))
        else:
            drift.append("HEALTHCHECK (NEW leaves it unset)")

    if (old.get("OnBuild") or []) != (new.get("OnBuild") or []):
        drift.append("ONBUILD triggers differ")

    # ENTRYPOINT resets CMD in a Dockerfile, so both are written together.
    old_entry, new_entry = old.get("Entrypoint") or None, new.get("Entrypoint") or None
    old_cmd, new_cmd = old.get("Cmd") or None, new.get("Cmd") or None
    if old_entry != new_entry:
        if new_entry is None:
            drift.append("ENTRYPOINT (NEW leaves it unset)")
        else:
            out.append(f"ENTRYPOINT {_json(new_entry)}")
            if new_cmd is not None:
                out.append(f"CMD {_json(new_cmd)}")
    elif old_cmd != new_cmd:
        if new_cmd is None:
            drift.append("CMD (NEW leaves it unset)")
        else:
            out.append(f"CMD {_json(new_cmd)}")
    return delta


def require_same_platform(old: dict, new: dict) -> None:
    """OLD and NEW (``docker inspect`` of each) must be for one OS and architecture."""
    for key in ("Os", "Architecture"):
        if old.get(key) != new.get(key):
            raise BadInput(
                f"OLD is {old.get(key)} and NEW is {new.get(key)} ({key}); "
                "a delta between them makes no sense"
            )
