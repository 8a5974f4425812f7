"""report for images in a registry, one or many platforms: the layers each
platform adds on its base, in the bytes a push or pull sends (compressed, as
the registry stores them), and the chain each platform's image records.

Only manifests and configs are read (kilobytes); no layer is downloaded.
"""

from difflayers.core.chain import read_chain
from difflayers.core.platforms import Platform
from difflayers.core.reference import parse_reference
from difflayers.errors import BadInput
from difflayers.methods.multiplatform import Image, inspect_like

MEASURE = "compressed layer bytes, as the registry stores them"


def report_platforms(registry, image_ref: str, base_ref=None, new_ref=None, selected=()) -> dict:
    """Per platform of ``image_ref``: its layers above ``base_ref``'s (or all),
    what NEW as built would have sent, and its chain record."""
    image = Image(registry, parse_reference(image_ref), "IMAGE")
    base = Image(registry, parse_reference(base_ref), "--base") if base_ref else None
    new = Image(registry, parse_reference(new_ref), "--new") if new_ref else None
    wanted = [Platform.parse(text) for text in selected]
    for platform in wanted:
        if platform not in image.listing.manifests:
            raise BadInput(f"{image_ref} has no {platform}")
    rows = []
    for platform in sorted(image.listing.manifests):
        if wanted and platform not in wanted:
            continue
        made = image.remote(registry, platform)
        below = _layers(registry, base, platform)
        above = made.layers[_shared(made.layers, below) :]
        chain = read_chain(inspect_like(made))
        row = {
            "platform": str(platform),
            "layers": [{"digest": d["digest"], "bytes": d["size"]} for d in above],
            "bytes_added": sum(d["size"] for d in above),
            "depth": chain.depth,
        }
        if base is not None and below is None:
            row["note"] = f"{base_ref} has no {platform}: every layer counted"
        if new is not None:
            built = _layers(registry, new, platform)
            if built is not None:
                naive = built[_shared(built, below) :]
                row["naive_bytes"] = sum(d["size"] for d in naive)
                row["bytes_saved"] = row["naive_bytes"] - row["bytes_added"]
        rows.append(row)
    return {"image": image_ref, "base": base_ref, "new": new_ref, "measure": MEASURE, "platforms": rows}


def _layers(registry, image, platform):
    if image is None or platform not in image.listing.manifests:
        return None
    return image.remote(registry, platform).layers


def _shared(layers: list, below) -> int:
    """How many bottom layers ``layers`` shares with ``below`` (by digest)."""
    count = 0
    for mine, theirs in zip(layers, below or []):
        if mine["digest"] != theirs["digest"]:
            break
        count += 1
    return count
