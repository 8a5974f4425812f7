"""difflayers report IMAGE [--base OLD] [--new NEW]: the layers and bytes an image adds."""

from difflayers.cli.common import platform_args, print_json, reads_registry, registry_for_reading
from difflayers.errors import ExitCode
from difflayers.figures import chain_figures, report_figures
from difflayers.methods.platformreport import report_platforms

HELP = "layers and bytes IMAGE adds on top of --base; without --base, the chain IMAGE records"
EXAMPLE = "difflayers report app:2-processed --base app:1 --new app:2"


def add_arguments(p) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--base", help="the image IMAGE was made on (OLD)")
    p.add_argument("--new", help="NEW as built, to show what pushing it would have cost")
    p.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="of an image in a registry: report these platforms only (repeat, or comma separated)",
    )
    p.add_argument("--plain-http", action="store_true", help="talk HTTP to a registry not on loopback")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def print_report(figures: dict) -> None:
    print(f"{figures['image']} on top of {figures['base']}:")
    print(f"  {'BYTES':>12}  LAYER (diff ID)")
    for layer in figures["layers"]:
        print(f"  {layer['bytes']:>12,}  {layer['diff_id'][:19]}")
    print(f"  {figures['bytes_added']:>12,}  in all")
    if "naive_bytes" in figures:
        print(f"  {figures['naive_bytes']:>12,}  pushing {figures['new']} as built would send")
        print(f"  {figures['bytes_saved']:>12,}  saved")


def print_chain(f: dict) -> None:
    if not f["depth"]:
        print(f"{f['image']} records no chain of deltas: it is a full image ({f['layers']} layers).")
        print("Give --base OLD to see the layers it adds on top of OLD.")
        return
    print(f"{f['image']}: {f['depth']} deltas on {f['base'][:19]} ({f['base_layers']} layers)")
    print(f"  {'DEPTH':>5}  {'NEW AS BUILT':<19}  {'DELTA BYTES':>13}  {'SUPERSEDED':>13}  LAYERS")
    for r in f["revisions"]:
        print(
            f"  {r['depth']:>5}  {r['new'][:19]:<19}  {r['delta_bytes']:>13,}  "
            f"{r['superseded_bytes']:>13,}  {r['layers']}"
        )
    print(f"  {'all':>5}  {'':<19}  {f['delta_bytes']:>13,}  {f['superseded_bytes']:>13,}")
    print(f"  layers: {f['layers']} of at most {f['max_layers']}")
    about = "" if f["new_as_built_exact"] else "about "
    print(
        f"  a fresh pull fetches {f['fresh_pull_bytes']:,} bytes; NEW as built would be "
        f"{about}{f['new_as_built_pull_bytes']:,}"
    )


def print_platforms(figures: dict) -> None:
    base = f" on top of {figures['base']}" if figures["base"] else ""
    print(f"{figures['image']}{base} ({figures['measure']}):")
    for row in figures["platforms"]:
        chain = f", chain depth {row['depth']}" if row["depth"] else ""
        print(f"{row['platform']}: {len(row['layers'])} layers, {row['bytes_added']:,} bytes{chain}")
        if "naive_bytes" in row:
            print(
                f"  {row['naive_bytes']:,} pushing {figures['new']} as built would send; "
                f"{row['bytes_saved']:,} saved"
            )
        if "note" in row:
            print(f"  {row['note']}")


def run(args, engine, progress) -> int:
    platforms = platform_args(args)
    refs = [ref for ref in (args.image, args.base, args.new) if ref]
    if reads_registry(engine, refs, platforms):
        registry = registry_for_reading(refs, args.environment.certs_d, args.plain_http)
        figures = report_platforms(registry, args.image, args.base, args.new, platforms)
        print_json(figures) if args.json else print_platforms(figures)
        return ExitCode.OK
    if args.base:
        figures = report_figures(engine, args.image, args.base, args.new)
        print_json(figures) if args.json else print_report(figures)
    else:
        figures = chain_figures(engine, args.image, args.new)
        print_json(figures) if args.json else print_chain(figures)
    return ExitCode.OK
