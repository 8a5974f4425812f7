"""difflayers index IMAGE --path P [-o FILE] [--push]: the tree index of an image.

The index lists every entry under P with its content digest (docs/tree-index.md);
kept in the registry beside the image, it lets ``optimize`` diff against the
image without pulling it. Read from the engine when IMAGE is there, else from
the registry (its layers streamed once, whiteouts applied).
"""

import tempfile
from pathlib import Path

from difflayers.adapters.engine import TOOL_IMAGE
from difflayers.adapters.registry import registry_of
from difflayers.cli.common import PathOption, print_json
from difflayers.comparing import indexpass
from difflayers.core.names import check_tree_path
from difflayers.core.outputs import atomic_file
from difflayers.core.reference import parse_reference
from difflayers.errors import ExitCode
from difflayers.methods import indexartifact
from difflayers.methods.oldtree import old_index
from difflayers.methods.push import find_old, read_image

HELP = "write an image's tree index (entries with digests), and attach it in the registry"
EXAMPLE = "difflayers index localhost:5000/app:1 --path /app --push"


def add_arguments(parser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="in the local engine, or HOST/REPO:TAG in a registry")
    parser.add_argument("--path", action=PathOption, required=True, help="the directory indexed, e.g. /app")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the index to FILE (gzip'ed JSON lines)")
    parser.add_argument(
        "--push", action="store_true", help="attach the index to IMAGE in its registry (as an OCI artifact)"
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="for an image read from the registry: build the index from its layers even if one is attached",
    )
    parser.add_argument("--plain-http", action="store_true", help="talk HTTP to a registry not on loopback")
    parser.add_argument("--json", action="store_true", help="print what was done as JSON")


def check(parser, args) -> None:
    if not args.output and not args.push:
        parser.error("index needs -o FILE, --push, or both")


def run(args, engine, progress) -> int:
    check_tree_path(args.path, "--path", volume_target=False)
    local = engine.has_image(args.image)
    if local:
        engine.require_directory(args.image, args.path)
    ref = parse_reference(args.image) if args.push or not local else None
    registry = registry_of(ref, args.plain_http, args.environment.certs_d, push=[ref]) if ref else None
    result = {"image": args.image, "path": args.path, "source": "engine" if local else "registry"}
    with tempfile.TemporaryDirectory(prefix="difflayers-index-") as work:
        if local:
            progress(f"reading {args.path} of {args.image} from the engine")
            dest = Path(work) / "index.jsonl.gz"
            image = engine.inspect_image(args.image)
            base = indexpass.base_of(engine, image, args.path) if args.push else None
            entries, read, _, outside = indexpass.tree_index(
                engine, TOOL_IMAGE, args.image, args.path, dest, progress, base[0] if base else None
            )
            data = dest.read_bytes()
            result.update(entries=entries, tree_bytes_read=read)
            record = _scope(image, base, outside, result)
        else:
            record = None  # what the registry's layers say of the image is its index's own
            progress(f"{args.image} is not in this engine: reading it from {ref.host}")
            remote = read_image(registry, ref, engine.platform())
            found = old_index(registry, remote, args.path, progress, args.rebuild)
            data = found.data
            result.update(entries=len(found.entries), layer_bytes_read=found.layer_bytes_read)
            if found.artifact is not None:
                result["stored"] = _stored(found.artifact.parts)
        result["bytes"] = len(data)
        result["bytes_per_entry"] = round(len(data) / max(result["entries"], 1), 1)
        if args.output:
            with atomic_file(Path(args.output)) as handle:
                handle.write(data)
            result["output"] = args.output
        if args.push:
            subject = find_old(registry, image, ref) if local else remote
            attached = indexartifact.attach(
                registry, ref.repository, subject.descriptor, data, args.path, image=record
            )
            result["pushed"] = f"{ref.host}/{ref.repository}@{attached['digest']}"
            result["refers_to"] = subject.digest
            result["stored"] = _stored(attached["artifact"].parts)
            result["bytes_sent"] = attached["bytes_sent"]
    if args.json:
        print_json(result)
    else:
        print(_said(args, result))
    return ExitCode.OK


def _scope(image: dict, base, outside, result: dict) -> dict | None:
    """The image record for the index's header (``treeindex.header``): where the
    image equals the image it was built FROM (``base``: tag, layers) outside
    the path, its scope, so that no later run reads its layers to prove it.
    Said in ``result["scope"]``; None where not proven."""
    if base is None or outside is None:
        return None
    equal = outside["differences"] == 0
    result["scope"] = {"built_from": base[0], "equal_outside_path": equal}
    if not equal:
        return None
    return {"layers": len(image["RootFS"]["Layers"]), "path_only_from": None, "outside_as_layers": base[1]}


def _stored(parts: list) -> dict:
    """How the index is kept in the registry: a whole index and index deltas."""
    return {"parts": len(parts), "bytes": sum(part["size"] for part in parts)}


def _said(args, result: dict) -> str:
    where = f"written to {args.output}" if args.output else ""
    pushed = f"attached to {args.image} as {result['pushed']}" if args.push else ""
    stored = result.get("stored")
    kept = (
        f"kept as {stored['parts']} blobs of {stored['bytes']:,} bytes (a whole index and deltas)"
        if stored and stored["parts"] > 1
        else ""
    )
    size = f"{result['entries']:,} entries, {result['bytes']:,} bytes ({result['bytes_per_entry']} per entry)"
    return f"tree index of {args.path} in {args.image}: {size}; " + "; ".join(
        filter(None, [where, pushed, kept])
    )
