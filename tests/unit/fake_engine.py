"""A fake engine for the orchestration's unit tests: images are dicts, trees are tar bytes.

It stands in for ``adapters.engine.Engine`` where a test checks the flow's
logic (what is printed where, which method is chosen), never on a path a
user runs: that is what the integration tests on the real engine are for.
"""

import contextlib

from tarstream import engine_like_tar


class FakeEngine:
    def __init__(self, images: dict, trees: dict | None = None):
        self.images = images  # ref -> inspect data
        self.trees = trees or {}  # ref -> list of tarstream entries (archive of the path)
        self.built = []
        self.is_podman = False
        self.naive_differ = None
        self.store = "classic"

    def inspect_image(self, ref):
        return self.images[ref]

    def path_kind(self, image, path):
        return "file"

    @contextlib.contextmanager
    def tree_archive(self, image, path):
        yield engine_like_tar(self.trees[image])

    def build(self, files, tag, progress=None, labels=None, keep_cache=True):
        self.built.append((tag, sorted(files)))
        return "sha256:built"


def image(image_id, config=None, layers=1):
    return {
        "Id": image_id,
        "Os": "linux",
        "Architecture": "amd64",
        "Config": config if config is not None else {"Env": ["PATH=/bin"], "Cmd": ["run"]},
        "RootFS": {"Layers": [f"sha256:{i:064d}" for i in range(layers)]},
    }
