"""Render the processed image's Dockerfile and removal list from templates.

Rendering is kept apart from building, so the output can be read (and tested)
without an engine. Every list is sorted before it reaches a template.
"""

import json
from pathlib import Path

from difflayers import __version__
from difflayers.core.configdelta import ConfigDelta
from difflayers.core.diffrecord import ImageRef
from difflayers.core.names import escaped_text, join_under
from difflayers.core.plan import Plan
from difflayers.errors import NotExpressible

_PACKAGE = Path(__file__).resolve().parents[1]
# Installed: templates ship inside the package (difflayers/templates). From a
# checkout or the tool image: the top-level templates/ folder beside it.
TEMPLATE_DIRS = [str(_PACKAGE / "templates"), str(_PACKAGE.parent / "templates")]
DELTA_ARCHIVE = "delta.tar"
DOCKERFILE = "Dockerfile"
REMOVAL_LIST = "files-to-remove.list"
# Exec-form RUN needs no shell in OLD; keep each command well under ARG_MAX.
MAX_REMOVAL_ARGS_BYTES = 64 * 1024
REMOVE_ARGV = ["/bin/rm", "-rf", "--"]


def template_environment():
    """The kit's templates (templates/), strict about undefined names (a
    ``jinja2.Environment``; imported here, as only rendering needs its 9 MB)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIRS),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["escape_name"] = escaped_text
    return env


def render_compare_dockerfile(
    *,
    tool_image: str,
    old_ref: str,
    new_ref: str,
    path: str,
    command: list,
    whole_roots: bool = False,
    base_ref: str | None = None,
) -> str:
    """The Dockerfile whose build compares ``path`` of two images in place
    (BuildKit mounts them from the images; see ``mounts``); ``whole_roots``
    mounts both whole images too, and ``base_ref``, the image both were built
    FROM (``comparing.inpass``)."""
    return _render_step(
        "compare.Dockerfile.j2",
        tool_image=tool_image,
        old_ref=old_ref,
        new_ref=new_ref,
        path=path,
        command=command,
        whole_roots=whole_roots,
        base_ref=base_ref if whole_roots else None,
    )


def render_index_pass_dockerfile(
    *,
    tool_image: str,
    new_ref: str,
    path: str,
    old_index: str | None,
    command: list,
    base_ref=None,
    old_ref=None,
) -> str:
    """The Dockerfile whose build compares ``path`` of NEW, mounted in place,
    with OLD's tree index, a file of the build context (``comparing.indexpass``);
    without ``old_index``, the build only indexes NEW. ``base_ref``: NEW's FROM
    image, mounted whole to compare with NEW outside ``path``; ``old_ref``: OLD,
    when it is in the engine, mounted whole to compare with ``base_ref`` too."""
    return _render_step(
        "index-pass.Dockerfile.j2",
        tool_image=tool_image,
        new_ref=new_ref,
        path=path,
        old_index=old_index,
        command=command,
        base_ref=base_ref,
        old_ref=old_ref,
    )


def _render_step(template: str, **values) -> str:
    """A Dockerfile of the kit's own build steps, stamped with the kit's version."""
    return template_environment().get_template(template).render(version=__version__, **values)


def removal_commands(paths) -> list:
    """Exec-form ``RUN`` arguments that remove ``paths``, split to stay small.

    JSON strings carry any Unicode name, newlines included, on one line; bytes
    that are not UTF-8 cannot be written in a Dockerfile at all.
    """
    commands, batch, size = [], [], 0
    for path in sorted(paths):
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            raise NotExpressible(f"the name {path!r} is not UTF-8; a Dockerfile cannot name it") from None
        if batch and size + len(path) > MAX_REMOVAL_ARGS_BYTES:
            commands.append(json.dumps(REMOVE_ARGV + batch))
            batch, size = [], 0
        batch.append(path)
        size += len(path) + 1
    if batch:
        commands.append(json.dumps(REMOVE_ARGV + batch))
    return commands


def render_dockerfile(
    *,
    old: ImageRef,
    new: ImageRef,
    path: str,
    plan: Plan,
    config: ConfigDelta,
    has_delta: bool,
    run_as_root: bool = False,
) -> str:
    """The Dockerfile text: FROM OLD, removals, the delta archive, NEW's config."""
    removals = _absolute_removals(path, plan)
    template = template_environment().get_template("Dockerfile.j2")
    return template.render(
        version=__version__,
        old=old,
        new=new,
        path=path,
        plan=plan,
        removal_commands=removal_commands(removals),
        run_as_root=run_as_root,
        delta_archive=DELTA_ARCHIVE if has_delta else None,
        config_instructions=config.instructions,
    )


def check_removal_names(path: str, plan: Plan) -> None:
    """Refuse (``NotExpressible``) removed names a Dockerfile cannot carry,
    before anything is written."""
    removal_commands(_absolute_removals(path, plan))


def render_removal_list(path: str, plan: Plan) -> str:
    """The removal list: absolute paths, one a line, escaped like rsync's log."""
    removals = sorted(_absolute_removals(path, plan))
    return template_environment().get_template(REMOVAL_LIST + ".j2").render(removals=removals)


def _absolute_removals(path: str, plan: Plan) -> list:
    return [join_under(path, rel) for rel in plan.removals]
