"""The processed image's config: NEW's runtime config on OLD's layers + one.

Pure data in, JSON out (OCI image spec, "Image Configuration"): ``rootfs``
lists OLD's diff_ids then the delta layer's, ``history`` OLD's entries then
one for the delta, and ``config`` is NEW's, exactly, so nothing NEW dropped
survives (which a Dockerfile on top of OLD cannot promise).
"""

import datetime
import json

# What makes a layer in a history entry of size 0 (a layer can be empty):
# BuildKit names the instruction, the classic builder marks the others #(nop).
_LAYER_INSTRUCTIONS = ("RUN ", "COPY ", "ADD ")
_CLASSIC_NOP = "/bin/sh -c #(nop) "


def _rfc3339(seconds: int) -> str:
    stamp = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _makes_layer(created_by: str) -> bool:
    if created_by.startswith(_CLASSIC_NOP):
        return created_by[len(_CLASSIC_NOP) :].lstrip().startswith(_LAYER_INSTRUCTIONS)
    return created_by.startswith(_LAYER_INSTRUCTIONS) or created_by.startswith("/bin/sh -c ")


def history_from_engine(entries: list, layer_count: int) -> list:
    """OLD's history in config form, from the engine's history endpoint.

    The endpoint (newest first) does not say which entries made a layer; an
    entry with bytes did, and among empty ones RUN/COPY/ADD did. If that does
    not add up to ``layer_count`` the entries are not trusted and one neutral
    entry per layer stands in, so history and layers always agree.
    """
    history = []
    for entry in reversed(entries):
        created_by = entry.get("CreatedBy") or ""
        item = {"created": _rfc3339(entry.get("Created") or 0), "created_by": created_by}
        if entry.get("Comment"):
            item["comment"] = entry["Comment"]
        if not (entry.get("Size") or _makes_layer(created_by)):
            item["empty_layer"] = True
        history.append(item)
    if sum(1 for item in history if not item.get("empty_layer")) == layer_count:
        return history
    return [{"created_by": f"layer {i + 1} of OLD", "comment": "difflayers"} for i in range(layer_count)]


def processed_config(new: dict, old_history: list, old_diff_ids: list, diff_id, created_by: str) -> dict:
    """The config of OLD + the delta layer, with NEW's runtime config.

    ``new`` is NEW's inspect data (the engine returns the stored config's
    fields under these names). ``diff_id`` None: the trees are equal and
    only the config changes, so no layer is added.
    """
    diff_ids, history = list(old_diff_ids), list(old_history or [])
    if diff_id is not None:
        diff_ids.append(diff_id)
        if history:  # optional (OCI): an OLD written without one gets none, not one entry for many layers
            entry = {"created_by": created_by, "comment": "difflayers delta layer"}
            history.append({"created": new["Created"], **entry} if new.get("Created") else entry)
    config = {
        "architecture": new["Architecture"],
        "os": new["Os"],
        "created": new.get("Created"),
        "config": new.get("Config") or {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    for optional in ("created", "history"):
        if not config[optional]:
            del config[optional]
    if new.get("Variant"):
        config["variant"] = new["Variant"]
    if new.get("Author"):
        config["author"] = new["Author"]
    return config


def config_bytes(config: dict) -> bytes:
    """The exact bytes the image ID (and the registry's digest) is taken of."""
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
