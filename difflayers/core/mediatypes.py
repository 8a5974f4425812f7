"""Media types of image manifests, configs and layers (OCI image spec, Docker's v2 schema 2).

An image is written in the family of the manifest it extends: OLD's layers
keep their descriptors, and the config and the new layer take the matching types.
"""

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEXES = (DOCKER_LIST, OCI_INDEX)
CONFIG_TYPE = {
    DOCKER_MANIFEST: "application/vnd.docker.container.image.v1+json",
    OCI_MANIFEST: "application/vnd.oci.image.config.v1+json",
}
# As registries store layers.
LAYER_TYPE = {
    DOCKER_MANIFEST: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    OCI_MANIFEST: "application/vnd.oci.image.layer.v1.tar+gzip",
}
# As an engine loads them from an archive: not compressed.
UNCOMPRESSED_LAYER_TYPE = {
    DOCKER_MANIFEST: "application/vnd.docker.image.rootfs.diff.tar",
    OCI_MANIFEST: "application/vnd.oci.image.layer.v1.tar",
}
# BuildKit's attestation manifests sit in an image's index beside the platform ones.
ATTESTATION_KEY = "vnd.docker.reference.type"
