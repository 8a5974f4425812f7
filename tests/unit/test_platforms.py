"""Platforms of multi-platform images: parsing, listing, pairing, refusals."""

import pytest

from difflayers.core import platforms
from difflayers.core.platforms import Platform
from difflayers.errors import BadInput

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def entry(arch, variant="", media_type=MANIFEST, digest=None, **extra):
    platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
    return {
        "mediaType": media_type,
        "digest": digest or f"sha256:{arch}{variant}",
        "platform": platform,
        **extra,
    }


def listing(*entries):
    return platforms.listing({"manifests": list(entries)}, "X")


def test_parse_and_arm64_default_variant():
    assert Platform.parse("linux/arm64/v8") == Platform.parse("linux/arm64") == Platform("linux", "arm64")
    assert str(Platform.parse("linux/arm/v7")) == "linux/arm/v7"
    for bad in ("linux", "linux/", "a/b/c/d", "/amd64"):
        with pytest.raises(BadInput):
            Platform.parse(bad)


def test_attestations_are_set_apart_and_nested_indexes_refused():
    attestation = {
        "mediaType": MANIFEST,
        "digest": "sha256:att",
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
    }
    found = listing(entry("amd64"), attestation)
    assert list(found.manifests) == [Platform("linux", "amd64")] and found.attestations == [attestation]
    with pytest.raises(BadInput, match="index inside its index"):
        listing(entry("amd64"), entry("arm64", media_type=INDEX))
    with pytest.raises(BadInput, match="twice"):
        listing(entry("amd64"), entry("amd64", digest="sha256:other"))
    with pytest.raises(BadInput, match="no platform"):
        listing({"mediaType": MANIFEST, "digest": "sha256:x"})


def test_pairing_both_new_only_old_only_and_selection():
    old = listing(entry("amd64"), entry("arm64", "v8"), entry("s390x"))
    new = listing(entry("amd64"), entry("arm64"), entry("riscv64"))
    paired = platforms.pair(old, new, None, "OLD", "NEW")
    assert [str(p) for p in paired.both] == ["linux/amd64", "linux/arm64"]
    assert [str(p) for p in paired.new_only] == ["linux/riscv64"]
    assert [str(p) for p in paired.old_only] == ["linux/s390x"]
    picked = platforms.pair(old, new, [Platform.parse("linux/arm64")], "OLD", "NEW")
    assert [str(p) for p in picked.both] == ["linux/arm64"]
    assert [str(p) for p in picked.not_selected] == ["linux/amd64", "linux/riscv64"]
    with pytest.raises(BadInput, match="has no linux/ppc64le"):
        platforms.pair(old, new, [Platform.parse("linux/ppc64le")], "OLD", "NEW")


def test_a_variant_mismatch_is_refused():
    with pytest.raises(BadInput, match="differ in architecture variant"):
        platforms.pair(listing(entry("arm", "v6")), listing(entry("arm", "v7")), None, "OLD", "NEW")
    # Both variants on both sides pair one to one.
    both = listing(entry("arm", "v6"), entry("arm", "v7"))
    assert len(platforms.pair(both, both, None, "OLD", "NEW").both) == 2
