"""verify for images in a registry, one or many platforms: each platform's
config and tree compared without pulling or running anything.

Each tree is built from the image's layers as an engine applies them
(``archives.treescan.Overlay``, via ``methods.registrytree``) and compared as
the kit compares trees (``comparing.indexcheck.tree_differences``: every field
but mtime, hardlink groups, byte-code freshness); the runtime config as
``comparing.equality`` compares it. A platform in one image only is a
difference.
"""

from pathlib import Path

from difflayers.comparing.equality import Comparison, config_differences
from difflayers.comparing.indexcheck import tree_differences
from difflayers.core.names import check_tree_path, escaped_text
from difflayers.core.platforms import Platform
from difflayers.core.reference import parse_reference
from difflayers.errors import BadInput


def compare_platforms(registry, ref_a: str, ref_b: str, path, selected, byte_exact, work_dir: Path) -> list:
    """[(platform, Comparison)] for every platform of A and B (or ``selected``)."""
    from difflayers.methods.multiplatform import Image, inspect_like
    from difflayers.methods.registrytree import RegistryTree

    path = check_tree_path(path, "--path", volume_target=False) if path else None
    a, b = Image(registry, parse_reference(ref_a), "A"), Image(registry, parse_reference(ref_b), "B")
    wanted = [Platform.parse(text) for text in selected] if selected else None
    for platform in wanted or []:
        if platform not in a.listing.manifests and platform not in b.listing.manifests:
            raise BadInput(f"neither {ref_a} nor {ref_b} has {platform}")
    found = []
    for platform in sorted(set(a.listing.manifests) | set(b.listing.manifests)):
        if wanted and platform not in wanted:
            continue
        missing = [name for name, image in (("A", a), ("B", b)) if platform not in image.listing.manifests]
        if missing:
            line = f"platform {platform}: only in {'B' if missing == ['A'] else 'A'}"
            found.append((platform, Comparison(ref_a, ref_b, path, [line], [], [], byte_exact)))
            continue
        images = [image.remote(registry, platform) for image in (a, b)]
        trees = [RegistryTree(registry, image, path or "/", None, work_dir).result for image in images]
        if path is None:  # whether a layer lists "./" says nothing of the filesystem
            for tree in trees:
                tree.pop(".", None)
        equivalent = [] if byte_exact else _equivalent(*trees)
        lines = tree_differences(trees[0], trees[1], set(equivalent), ("only in B", "only in A"))
        config = config_differences(*(inspect_like(image) for image in images))
        shown = [escaped_text(name) for name in equivalent]
        found.append((platform, Comparison(ref_a, ref_b, path, config, lines, shown, byte_exact)))
    return found


def _equivalent(a: dict, b: dict) -> list:
    """Byte-code that differs only in its embedded source mtime (``core.bytecode``)."""
    return [
        name
        for name, entry in a.items()
        if name in b
        and entry.pyc is not None
        and b[name].pyc is not None
        and entry.digest != b[name].digest
        and entry.pyc.code == b[name].pyc.code
    ]
