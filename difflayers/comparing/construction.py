"""The check by construction: the image made is NEW, shown without reading either image again.

The processed image is OLD's layers, the delta layer and NEW's config. So it
equals NEW when three things hold, each checked from what the differ's pass
read in place (``comparing.inpass``), never from the plan the layer came from:

- under the path: OLD's tree index with the layer as written applied to it
  (whiteouts as an engine applies them) equals NEW's tree index
  (``comparing.indexcheck``);
- outside the path: OLD's and NEW's whole trees are equal, entry by entry,
  content hashed (the layer changes nothing there);
- the runtime config: the loaded image's equals NEW's, but the chain labels.

``difflayers verify`` and ``optimize --verify full`` remain the independent
comparison of both images' exported filesystems (``comparing.equality``).
"""

from difflayers.comparing.equality import Comparison, config_differences
from difflayers.comparing.indexcheck import layer_differences

CHECK = "construction"  # the name in --json; the other is "full" (comparing.equality)


def describe(path: str) -> str:
    """What the check compared, in words (the summary's ``equality``)."""
    return (
        f"by construction: OLD's tree index of {path} with the layer applied equals NEW's (content, type, "
        f"mode, owner, links, byte-code freshness), OLD's and NEW's trees outside {path} are equal "
        "(hashed), and the runtime config is NEW's"
    )


def check(engine, diff, new_ref: str, made_ref: str) -> Comparison:
    """Compare the image made (``made_ref``, loaded) with NEW by construction."""
    found, path, plan = diff.in_pass, diff.record.path, diff.plan
    tree = layer_differences(found.old_index, found.layer, found.new_index, plan, path)  # streamed
    outside = found.outside
    tree += [f"outside {path}: {line}" for line in outside["shown"]]
    if outside["differences"] > len(outside["shown"]):
        tree.append(f"outside {path}: ... and {outside['differences'] - len(outside['shown'])} more")
    config = config_differences(engine.inspect_image(new_ref), engine.inspect_image(made_ref))
    return Comparison(
        new_ref, made_ref, path, config, tree, list(plan.kept_from_old), diff.byte_exact, check=CHECK
    )
