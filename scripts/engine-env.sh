# Sourced by the scripts that run Compose: what the engine behind DOCKER_HOST needs.
# - The differ services talk to the engine through its socket, mounted from
#   DOCKER_SOCKET (default /var/run/docker.sock): a unix DOCKER_HOST names it.
# - Podman has no BuildKit: Compose builds the kit's image with the engine's
#   own builder (DOCKER_BUILDKIT=0), as `docker build` does there.
case "${DOCKER_HOST:-}" in
  unix://*) export DOCKER_SOCKET="${DOCKER_SOCKET:-${DOCKER_HOST#unix://}}" ;;
esac
if docker version --format '{{range .Server.Components}}{{.Name}} {{end}}' 2>/dev/null | grep -qi podman; then
  export DOCKER_BUILDKIT=0
fi
