"""Figures about images: the bytes a processed image adds, what NEW as built
would cost, and the chain of deltas an image records.

Read from the engine's inspect and history data; the ``report`` command and
``optimize``'s summary print them.
"""

from difflayers.core.chain import MAX_LAYERS, read_chain


def layers_above(engine, image: str, base: str) -> list:
    """History entries (newest first) that ``image`` has on top of ``base``."""
    history = engine.history(image)
    base_len = len(engine.history(base))
    return history[: max(0, len(history) - base_len)]


def chain_figures(engine, image_ref: str, new_ref=None) -> dict:
    """The chain ``image_ref`` records (see ``chain``), and what pulls cost.

    A fresh pull fetches every layer, dead bytes included; NEW as built would
    hold the live tree only (exact when ``new_ref`` is given, else estimated
    as the image's bytes less the superseded ones).
    """
    image = engine.inspect_image(image_ref)
    chain = read_chain(image)
    fresh_pull = sum(entry["Size"] for entry in engine.history(image["Id"]))
    if new_ref:
        new_pull = sum(entry["Size"] for entry in engine.history(engine.inspect_image(new_ref)["Id"]))
    else:
        new_pull = fresh_pull - chain.superseded_bytes
    return {
        "image": image_ref,
        "base": chain.base_id,
        "base_layers": chain.base_layers,
        "depth": chain.depth,
        "layers": len(image["RootFS"]["Layers"]),
        "max_layers": MAX_LAYERS,
        "revisions": [
            {
                "depth": i + 1,
                "new": r.new_id,
                "delta_bytes": r.delta_bytes,
                "superseded_bytes": r.superseded_bytes,
                "layers": r.layers,
            }
            for i, r in enumerate(chain.revisions)
        ],
        "delta_bytes": chain.delta_bytes,
        "superseded_bytes": chain.superseded_bytes,
        "fresh_pull_bytes": fresh_pull,
        "new_as_built_pull_bytes": new_pull,
        "new_as_built_exact": bool(new_ref),
    }


def shared_layers(image: dict, other: dict) -> int:
    """How many bottom layers two images (inspect data) have in common."""
    layers, others = image["RootFS"]["Layers"], other["RootFS"]["Layers"]
    shared = 0
    while shared < min(len(layers), len(others)) and layers[shared] == others[shared]:
        shared += 1
    return shared


def naive_bytes(engine, new_ref: str, old_ref: str) -> int:
    """What pushing NEW as built sends once OLD is in the registry: its layers
    that OLD does not share, sized from NEW's history.

    History entries of size 0 are skipped, whether they made an empty layer
    or none; those add no bytes either way.
    """
    shared = shared_layers(engine.inspect_image(new_ref), engine.inspect_image(old_ref))
    sizes = [entry["Size"] for entry in reversed(engine.history(new_ref)) if entry["Size"] > 0]
    return sum(sizes[shared:])


def report_figures(engine, image: str, base: str, new: str | None = None) -> dict:
    """Layers and bytes ``image`` adds on top of ``base``; with ``new``, what pushing NEW would have cost."""
    layers = layers_above(engine, image, base)
    figures = {
        "image": image,
        "base": base,
        "layers": [{"created_by": e.get("CreatedBy", ""), "bytes": e["Size"]} for e in layers],
        "bytes_added": sum(e["Size"] for e in layers),
    }
    if new:
        figures["new"] = new
        figures["naive_bytes"] = naive_bytes(engine, new, base)
        figures["bytes_saved"] = figures["naive_bytes"] - figures["bytes_added"]
    return figures
