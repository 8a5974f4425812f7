"""What the commands share: the output folder, and how JSON is printed."""

import argparse
import contextlib
import json
from pathlib import Path

from difflayers.core import scope
from difflayers.errors import BadInput, VerificationFailed
from difflayers.ownership import MARKER, Owner, keep_folder, make_temp_dir, remove_folder

# The version of every command's --json document; docs/schemas/COMMAND.schema.json
# describes each, and the tests check the outputs against them.
JSON_SCHEMA_VERSION = 1


class PathOption(argparse.Action):
    """``--path``, repeatable: the union of the directories given (``core.scope``).
    ``args.path`` is the folder compared (the paths' common ancestor, the path
    itself when one is given) and ``args.paths`` the union; a first ``--path``
    replaces the project file's ``path:``, later ones add to it."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = [*(getattr(namespace, "_path_given", None) or []), values]
        setattr(namespace, "_path_given", given)  # not the default, which a project file may set
        if len(set(given)) == 1:
            namespace.path, namespace.paths = values, None  # checked where it is used, as always
            return
        try:
            paths = scope.union(given)
        except BadInput as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        namespace.path, namespace.paths = paths.root, paths if paths.is_union else None


def paths_of(args) -> "scope.Paths | None":
    """The union the command was given (None: one --path, used as ``args.path``)."""
    return getattr(args, "paths", None)


def print_json(document: dict) -> None:
    """A command's --json output: its figures with the schema version first."""
    print(json.dumps({"schema": JSON_SCHEMA_VERSION, **document}, indent=2))


# Written into every --output folder the kit uses: a folder without it that
# holds files is the user's, and is not written into unless told to.
OUTPUT_MARKER = ".difflayers-output"


def claim_output_folder(folder: Path, replace: bool = False) -> Path:
    """Make ``folder`` the kit's, refusing a non-empty one it did not make."""
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"--output {folder} is a file, not a folder")
    if folder.is_dir() and not (folder / OUTPUT_MARKER).exists() and not replace:
        others = sorted(p.name for p in folder.iterdir())
        if others:
            raise BadInput(
                f"--output {folder} holds files the kit did not write (first: {others[0]!r}); "
                "name a new or empty folder, or add --replace-output to let the kit overwrite its own "
                "file names there"
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OUTPUT_MARKER).touch()
    except OSError as exc:
        raise BadInput(f"cannot write in the output folder {folder}: {exc.strerror}") from None
    return folder


@contextlib.contextmanager
def output_dir(asked, replace: bool = False):
    """The folder asked for, or a temporary one removed afterwards.

    The temporary one is kept when the made image failed verification: the
    error names it, and its files let the user look further.
    """
    if asked:
        yield claim_output_folder(Path(asked), replace)
        return
    folder = make_temp_dir(Owner.me())
    keep = False
    try:
        yield folder
    except VerificationFailed:
        # Kept only if the run wrote something there (a check of an index found
        # in the registry fails before anything is made).
        keep = any(item.name != MARKER for item in folder.iterdir())
        if keep:
            keep_folder(folder, "kept after a failed verification: the files the image was made from")
        raise
    finally:
        if not keep:
            remove_folder(folder)


def reads_registry(engine, refs: list, platforms: list) -> bool:
    """Whether a command reads images in a registry rather than the engine:
    with ``--platform``, or when an image not in the engine names its registry."""
    from difflayers.core.reference import parse_reference

    missing = [ref for ref in refs if not engine.has_image(ref)]
    return bool(platforms) or bool(missing) and all(parse_reference(r).host != "docker.io" for r in missing)


def registry_for_reading(refs: list, certs_d, plain_http: bool = False):
    """A registry client with pull access to ``refs``, which must share a registry."""
    from difflayers.adapters.registry import registry_of
    from difflayers.core.reference import parse_reference

    names = [parse_reference(ref) for ref in refs]
    if len({name.host for name in names}) != 1:
        raise BadInput(
            f"{', '.join(refs)} are not all in this engine, nor in one registry: "
            "pull them, or name each as it is in the registry"
        )
    return registry_of(names[0], plain_http, certs_d, pull=names)


def platform_args(args) -> list:
    """``--platform`` as given, repeated or comma separated: one platform each."""
    return [text for arg in args.platform for text in arg.split(",") if text]
