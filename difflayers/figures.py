"""Figures about images: the bytes a processed image adds, what NEW as built
would cost, and the chain of deltas an image records.

Bytes are the file content of the layers, read from the layers themselves,
the same on both image stores (``docker history`` reports disk usage on
containerd's). The ``report`` command and ``optimize``'s summary print them.
"""

from difflayers.core.chain import MAX_LAYERS, read_chain
from difflayers.errors import BadInput


def layer_bytes(engine, image: dict, start: int = 0) -> list:
    """(diff ID, bytes of file content) of ``image``'s layers from the ``start``-th up,
    read from the layers themselves (see ``Engine.layer_content_bytes``)."""
    diff_ids = image["RootFS"]["Layers"][start:]
    sizes = engine.layer_content_bytes(image["Id"], diff_ids)
    return [(diff_id, sizes[diff_id]) for diff_id in diff_ids]


def layers_above(engine, image: str, base: str) -> list:
    """(diff ID, content bytes) of the layers ``image`` has on top of ``base``, which it extends."""
    inspected, under = engine.inspect_image(image), engine.inspect_image(base)
    shared = shared_layers(inspected, under)
    if shared != len(under["RootFS"]["Layers"]):
        raise BadInput(f"{image} is not built on {base}: they share {shared} of its layers")
    return layer_bytes(engine, inspected, shared)


def chain_figures(engine, image_ref: str, new_ref=None) -> dict:
    """The chain ``image_ref`` records (see ``chain``), and what pulls cost.

    A fresh pull fetches every layer, dead bytes included; NEW as built would
    hold the live tree only (exact when ``new_ref`` is given, else estimated
    as the image's bytes less the superseded ones).
    """
    image = engine.inspect_image(image_ref)
    chain = read_chain(image)
    fresh_pull = sum(size for _, size in layer_bytes(engine, image))
    if new_ref:
        new_pull = sum(size for _, size in layer_bytes(engine, engine.inspect_image(new_ref)))
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
    """What NEW as built adds once OLD is in the registry: the content bytes of
    its layers that OLD does not share, read from the layers themselves."""
    new = engine.inspect_image(new_ref)
    shared = shared_layers(new, engine.inspect_image(old_ref))
    return sum(size for _, size in layer_bytes(engine, new, shared))


def report_figures(engine, image: str, base: str, new: str | None = None) -> dict:
    """Layers and bytes ``image`` adds on top of ``base``; with ``new``, what pushing NEW would have cost."""
    layers = layers_above(engine, image, base)
    figures = {
        "image": image,
        "base": base,
        "layers": [{"diff_id": diff_id, "bytes": size} for diff_id, size in layers],
        "bytes_added": sum(size for _, size in layers),
    }
    if new:
        figures["new"] = new
        figures["naive_bytes"] = naive_bytes(engine, new, base)
        figures["bytes_saved"] = figures["naive_bytes"] - figures["bytes_added"]
    return figures
