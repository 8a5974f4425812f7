"""Platforms of a multi-platform image (OCI image index, Docker manifest list):
which are in OLD, in NEW, in both, and what the user asked for.

Pure data in, typed errors out, so every refusal happens before anything is
read or pushed. A platform is (os, architecture, variant) as the index's
``platform`` field says (OCI image spec, "Image Index"); arm64's variant
``v8`` is its default and is matched as absent, as containerd's platforms
package does. Attestations that buildx puts beside the images
(``unknown/unknown``) describe NEW's manifests as built, not the images made
here: they are set apart, and the report says they were left out.
"""

from dataclasses import dataclass, field

from difflayers.core.mediatypes import DOCKER_LIST, OCI_INDEX
from difflayers.errors import BadInput

ATTESTATION = ("vnd.docker.reference.type", "attestation-manifest")


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        """``os/arch[/variant]``, as ``docker build --platform`` takes it."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise BadInput(f"--platform {text!r}: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/arm64")
        return cls(*parts).normalized()

    @classmethod
    def of(cls, fields: dict) -> "Platform":
        """From an index entry's ``platform`` or an image config (same field names)."""
        return cls(fields.get("os") or "", fields.get("architecture") or "", fields.get("variant") or "")

    def normalized(self) -> "Platform":
        if self.architecture == "arm64" and self.variant == "v8":
            return Platform(self.os, self.architecture)
        return self

    def same_but_variant(self, other: "Platform") -> bool:
        return (self.os, self.architecture) == (other.os, other.architecture) and self != other

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass
class Listing:
    """An image's platforms: descriptor by platform, and the attestations set apart."""

    manifests: dict = field(default_factory=dict)  # Platform -> descriptor
    attestations: list = field(default_factory=list)


def listing(index: dict, name: str) -> Listing:
    """The platforms of an index (its JSON); refused: nested indexes, entries
    without a platform, and a platform listed twice."""
    found = Listing()
    for descriptor in index.get("manifests") or []:
        annotations = descriptor.get("annotations") or {}
        if annotations.get(ATTESTATION[0]) == ATTESTATION[1]:
            found.attestations.append(descriptor)
            continue
        if descriptor.get("mediaType") in (OCI_INDEX, DOCKER_LIST):
            raise BadInput(
                f"{name} holds an index inside its index ({descriptor.get('digest', '?')[:19]}): "
                "nested indexes are not supported; push a flat multi-platform image"
            )
        if not descriptor.get("platform"):
            raise BadInput(f"{name}: the manifest {descriptor.get('digest', '?')[:19]} names no platform")
        platform = Platform.of(descriptor["platform"]).normalized()
        if platform in found.manifests:
            raise BadInput(f"{name} lists {platform} twice: which one is meant cannot be told")
        found.manifests[platform] = descriptor
    if not found.manifests:
        raise BadInput(f"{name} is an index with no image in it")
    return found


@dataclass
class Pairing:
    """What happens to each platform: a delta (in both), as built (NEW only, or
    not selected), dropped (OLD only)."""

    both: list
    new_only: list
    old_only: list
    not_selected: list


def pair(old: Listing, new: Listing, selected: list | None, old_name: str, new_name: str) -> Pairing:
    """Match OLD's platforms with NEW's; ``selected`` (``--platform``) limits
    the deltas to those, each of which NEW must have."""
    for platform in selected or []:
        if platform not in new.manifests:
            have = ", ".join(map(str, sorted(new.manifests)))
            raise BadInput(f"{new_name} has no {platform} (it has {have})")
    for platform in new.manifests:
        for other in old.manifests:
            if platform not in old.manifests and platform.same_but_variant(other):
                raise BadInput(
                    f"{platform} in {new_name} and {other} in {old_name} differ in architecture "
                    "variant: a delta between them would run on CPUs that NEW's image does not "
                    "target; build both for the same variant"
                )
    wanted = set(selected) if selected else set(new.manifests)
    both = sorted(p for p in new.manifests if p in old.manifests and p in wanted)
    return Pairing(
        both=both,
        new_only=sorted(p for p in new.manifests if p not in old.manifests and p in wanted),
        old_only=sorted(p for p in old.manifests if p not in new.manifests),
        not_selected=sorted(p for p in new.manifests if p not in wanted),
    )
