"""Writing tar archives: the ADD delta, the OCI layer with whiteouts, docker load archives."""
