"""verify A B [--path P]: are two images the same, file for file and in config?

Independent of rsync and of the plan: it reads both images through the engine
(export, or the archive of P) and compares what it finds. Exit 0 when equal,
1 when not, 2 on bad input.
"""

from .. import engine, verify
from ..names import check_tree_path


def _tree(client, image: str, path):
    if path is None:
        with engine.filesystem_archive(client, image) as stream:
            return verify.read_tree(stream)
    engine.require_directory(client, image, path)
    with engine.tree_archive(client, image, path) as stream:
        return verify.read_tree(stream, root=path)


def run(image_a: str, image_b: str, path=None, client=None, quiet=False) -> int:
    if path is not None:
        path = check_tree_path(path)
    client = engine.connect(client)
    inspected = [engine.inspect_image(client, ref) for ref in (image_a, image_b)]
    where = f" under {path}" if path else ""
    say = (lambda text: None) if quiet else (lambda text: print(text, flush=True))
    say(f"Comparing {image_a} (A) with {image_b} (B){where} ...")
    lines = verify.config_differences(*inspected)
    lines += verify.tree_differences(_tree(client, image_a, path), _tree(client, image_b, path))
    for line in lines:
        say(f"  {line}")
    if lines:
        say(f"{len(lines)} differences.")
        return 1
    say("Equal: same files (content, type, mode, owner, links) and the same runtime config.")
    return 0
