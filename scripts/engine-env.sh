# Sourced by the scripts that run Compose: what the engine behind DOCKER_HOST needs.
# - The differ services talk to the engine through its socket, mounted from
#   DOCKER_SOCKET (default /var/run/docker.sock): a unix DOCKER_HOST names it.
# - Podman has no BuildKit: Compose builds the kit's image with the engine's
#   own builder (DOCKER_BUILDKIT=0), as `docker build` does there.
case "${DOCKER_HOST:-}" in
  unix://*) export DOCKER_SOCKET="${DOCKER_SOCKET:-${DOCKER_HOST#unix://}}" ;;
esac
# - PODMAN=1 there. Podman before 4.6 answers the wait Docker's clients make for `run --rm`
#   with status 0, whatever the command's (podman#18889): the walkthrough
#   then runs those steps named, reads their status, and removes them.
# - NO_NETWORK: `docker build --network` for a step that needs none (the processed
#   image's RUN of the removals). Podman reads it as Buildah's network policy,
#   1 for disabled ("none" is ignored there, and RUN then leaves the empty
#   /etc/hosts it mounted on in the image, which NEW does not hold).
export NO_NETWORK=none
if docker version --format '{{range .Server.Components}}{{.Name}} {{end}}' 2>/dev/null | grep -qi podman; then
  export DOCKER_BUILDKIT=0 PODMAN=1 NO_NETWORK=1
  podman_version=$(docker version --format '{{.Server.Version}}' 2>/dev/null || true)
  case $podman_version in
    [0-3].* | 4.[0-5].*) export RUN_RM_LOSES_STATUS=1 ;;
  esac
fi
