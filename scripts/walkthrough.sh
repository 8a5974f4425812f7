#!/usr/bin/env bash
# The walkthrough (docs/walkthrough.md), end to end, printing each command before it runs.
#   ./scripts/walkthrough.sh
#   CHAIN=5 ./scripts/walkthrough.sh   # then revisions 3..7, each processed
#                                      # against the last processed image
# Uses docker-compose when it is on PATH, else `docker compose`; override with
# COMPOSE="docker compose". Exits non-zero if any step fails or if the
# processed image differs from revision-2.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${COMPOSE:-}" ]; then
  if command -v docker-compose >/dev/null 2>&1; then COMPOSE=docker-compose; else COMPOSE="docker compose"; fi
fi
read -r -a compose <<<"$COMPOSE"
# shellcheck source=engine-env.sh
. scripts/engine-env.sh

step() { printf '\n\033[1m## %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; execute "$@"; }
diff_up() { # `up` of the differ; on Podman its containers go first, and a failed `up` is run
  # once more: Compose 2.40 can crash there (a nil pointer in its monitor, docker/compose#13559)
  [ -z "${PODMAN:-}" ] || run "${compose[@]}" -f rsync-image-diff.docker-compose.yml down
  if [ -z "${PODMAN:-}" ]; then run "${compose[@]}" -f rsync-image-diff.docker-compose.yml up; return; fi
  run "${compose[@]}" -f rsync-image-diff.docker-compose.yml up && return
  echo "Compose failed; on Podman it can crash in its monitor (docker/compose#13559): once more" >&2
  run "${compose[@]}" -f rsync-image-diff.docker-compose.yml down
  run "${compose[@]}" -f rsync-image-diff.docker-compose.yml up
}
runs=0
execute() { # the command as given; on a Podman that loses `run --rm`'s status, named and removed after
  if [ -z "${RUN_RM_LOSES_STATUS:-}" ]; then "$@"; return; fi
  local args=() arg name="difflayers-walkthrough-$$-$((runs += 1))" status=0
  for arg in "$@"; do
    if [ "$arg" = --rm ]; then args+=(--name "$name"); else args+=("$arg"); fi
  done
  "${args[@]}" || status=$?
  docker rm -f "$name" >/dev/null 2>&1 || true
  return "$status"
}
build() { # build DIR TAG [DOCKERFILE [OPTION...]]: docker build, quiet unless it fails
  local dir=$1 tag=$2 file=${3:-Dockerfile} out
  local args=(-t "$tag" .)
  [ "$file" = Dockerfile ] || args=(-f "$file" "${args[@]}")
  [ $# -le 3 ] || args=("${@:4}" "${args[@]}")
  printf '$ cd %s; docker build %s; cd ..\n' "$dir" "${args[*]}"
  if ! out=$(cd "$dir" && docker build "${args[@]}" 2>&1); then printf '%s\n' "$out"; return 1; fi
}

step "Build the kit's tool image"
run "${compose[@]}" -f shell.docker-compose.yml build --quiet

step "Create and build the image for a sample project"
run "${compose[@]}" -f shell.docker-compose.yml run --rm shell ./generate-sample-project.sh
build sample-project sample-project:revision-1
run docker history sample-project:revision-1

step "Make some changes to the sample project"
run "${compose[@]}" -f shell.docker-compose.yml run --rm shell ./modify-sample-project.sh

step "The naive way: revision-2 built FROM revision-1 re-adds every file"
run "${compose[@]}" -f shell.docker-compose.yml run --rm shell ./base-sample-project-images-on-revision-1.sh
build sample-project sample-project:revision-2-based-on-revision-1 Dockerfile.based-on-revision-1
run docker history sample-project:revision-2-based-on-revision-1

step "The same naive rebuild from a fresh checkout (every file's mtime new, as on a CI runner's clone)"
printf '$ %s\n' "${compose[*]} -f shell.docker-compose.yml run --rm shell sh -c 'find ../sample-project -exec touch -h {} +'"
execute "${compose[@]}" -f shell.docker-compose.yml run --rm shell sh -c 'find ../sample-project -exec touch -h {} +'
# --no-cache: a CI runner has no build cache either.
build sample-project sample-project:revision-2-based-on-revision-1-fresh-checkout Dockerfile.based-on-revision-1 --no-cache
run docker history sample-project:revision-2-based-on-revision-1-fresh-checkout

step "Create an image with an optimized layer"
build sample-project sample-project:revision-2
export RESTRICT_DIFF_TO_PATH=/app OLD_IMAGE=sample-project:revision-1 NEW_IMAGE=sample-project:revision-2
printf '$ export RESTRICT_DIFF_TO_PATH=%s OLD_IMAGE=%s NEW_IMAGE=%s\n' "$RESTRICT_DIFF_TO_PATH" "$OLD_IMAGE" "$NEW_IMAGE"
diff_up
run "${compose[@]}" -f shell.docker-compose.yml -f process-image-diff.docker-compose.yml run --rm shell ./generate-dockerfile.sh
run cat output/Dockerfile
# The removals' RUN needs no network; on Podman, --no-cache too: Buildah's cache
# leaves the network out of its key, and a layer cached from a build with one holds /etc/hosts.
processed=(--network="$NO_NETWORK")
[ -z "${PODMAN:-}" ] || processed+=(--no-cache)
build output sample-project:revision-2-processed Dockerfile "${processed[@]}"
run docker history sample-project:revision-2-processed

step "Verify that the processed image has the same contents as revision-2"
export OLD_IMAGE=sample-project:revision-2 NEW_IMAGE=sample-project:revision-2-processed
printf '$ export RESTRICT_DIFF_TO_PATH=%s OLD_IMAGE=%s NEW_IMAGE=%s\n' "$RESTRICT_DIFF_TO_PATH" "$OLD_IMAGE" "$NEW_IMAGE"
diff_up
if [ -s output/rsync-image-diff.log ]; then
  echo "FAILED: sample-project:revision-2-processed differs from sample-project:revision-2" >&2
  exit 1
fi
run "${compose[@]}" -f shell.docker-compose.yml -f process-image-diff.docker-compose.yml run --rm shell \
  ./verify-images.sh sample-project:revision-2 sample-project:revision-2-processed
echo
echo "Done: sample-project:revision-2-processed equals revision-2 and adds only the changed bytes."

chain=${CHAIN:-0}
case $chain in '' | *[!0-9]*) echo "CHAIN must be a number of revisions" >&2; exit 2 ;; esac
[ "$chain" -gt 0 ] || exit 0

step "Chained revisions: each new build processed against the last processed image"
difflayers=("${compose[@]}" -f shell.docker-compose.yml -f process-image-diff.docker-compose.yml
  run --rm shell python3 -m difflayers)
previous=sample-project:revision-2-processed
last=$((chain + 2))
for revision in $(seq 3 "$last"); do
  run "${compose[@]}" -f shell.docker-compose.yml run --rm shell ./modify-sample-project.sh "$revision"
  build sample-project "sample-project:revision-$revision"
  status=0
  run "${difflayers[@]}" optimize "$previous" "sample-project:revision-$revision" --path /app \
    -t "sample-project:revision-$revision-processed" || status=$?
  # 3: made and verified, but as a rebase (the chain policy said so).
  [ "$status" -eq 0 ] || [ "$status" -eq 3 ] || exit "$status"
  previous=sample-project:revision-$revision-processed
done
run "${difflayers[@]}" report "$previous" --new "sample-project:revision-$last"
