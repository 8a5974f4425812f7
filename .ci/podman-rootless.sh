#!/usr/bin/env bash
# CI: the tests marked podman on rootless Podman, as a user with its own
# service on $XDG_RUNTIME_DIR/podman/podman.sock (vfs storage here).
#   .ci/podman-rootless.sh BASE_ARCHIVE   # as root, Podman installed (.ci/run)
# The user gets a clone of this checkout and the base image; ./scripts/test.sh
# makes its own .venv there.
set -euo pipefail
cd "$(dirname "$0")/.."
base_archive=$(realpath "$1")
user=difflayers-ci
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user" # with its subordinate IDs
# This sandbox's /dev/net/tun is root's alone; rootless networks (slirp4netns) need it.
chmod 0666 /dev/net/tun 2>/dev/null || echo "no /dev/net/tun here: rootless containers get no network" >&2
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
mkdir -p "/run/user/$uid" && chown "$user" "/run/user/$uid" && chmod 0700 "/run/user/$uid"
rm -rf "$home/kit" "$home/kit.git"
git clone -q --bare . "$home/kit.git" && chown -R "$user" "$home/kit.git"
chmod 0644 "$base_archive"
# shellcheck disable=SC2016 # expanded by the user's shell
su - "$user" -c 'set -euo pipefail
  export XDG_RUNTIME_DIR=/run/user/$(id -u)
  git clone -q ~/kit.git ~/kit
  podman load -q -i "$1"
  nohup podman system service --time=0 >/tmp/podman-rootless-service.log 2>&1 &
  export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock
  for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 1; done
  podman info --format "rootless {{.Host.Security.Rootless}}, storage driver {{.Store.GraphDriverName}}"
  cd ~/kit && ./scripts/test.sh -m podman' rootless-ci "$base_archive"
