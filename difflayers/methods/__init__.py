"""The two ways to make the processed image (Dockerfile, assembled layer) and the push."""

import enum


class Method(str, enum.Enum):
    """How the processed image is made; the value is what the CLI takes and --json prints."""

    AUTO = "auto"  # the Dockerfile method where it reproduces NEW, else the layer method
    DOCKERFILE = "dockerfile"  # OLD + RUN rm + ADD delta.tar, built by the engine
    LAYER = "layer"  # OLD's layers + one assembled layer with whiteouts, NEW's config
    NEW_AS_BUILT = "new-as-built"  # nothing made: the chain policy took NEW itself

    def layers_added(self, additions: bool, removals: bool) -> int:
        """Layers this method puts on OLD for a plan (the most, for AUTO)."""
        if self is Method.LAYER:
            return int(additions or removals)
        return int(additions) + int(removals)
