#!/usr/bin/env bash
# Docker with the containerd image store (what Docker 29 gives every new
# install): Debian 13's docker.io 26 and containerd 1.7, unpacked into a
# folder (the system's apt stays as it is) and started on the default socket
# in place of the classic engine, so builds reach the package mirrors as usual.
#   .ci/containerd-engine.sh install   # fetch and unpack (idempotent)
#   .ci/containerd-engine.sh start     # start it on /var/run/docker.sock
#   .ci/containerd-engine.sh stop
set -euo pipefail
dir=${DIFFLAYERS_CONTAINERD_DIR:-/opt/difflayers-containerd}
socket=/var/run/docker.sock

install() {
  [ -x "$dir/root/usr/sbin/dockerd" ] && return 0
  mkdir -p "$dir/apt/lists/partial" "$dir/debs" "$dir/root"
  local mirror
  mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' "$mirror" >"$dir/apt/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$dir/apt/sources.list" -o Dir::Etc::sourceparts=/nonexistent
              -o "Dir::State::Lists=$dir/apt/lists")
  apt-get "${opts[@]}" update -qq
  (cd "$dir/debs" && apt-get "${opts[@]}" download docker.io containerd 2>/dev/null)
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
  # Debian 13's runc needs glibc 2.38; Debian 12's (package runc) is used instead.
  rm -f "$dir/root/usr/sbin/runc" "$dir/root/usr/bin/runc"
  command -v runc >/dev/null || apt-get install -y -qq runc >/dev/null
}

start() {
  mkdir -p "$dir/data" "$dir/exec" "$dir/run"
  printf '{"features":{"containerd-snapshotter":true}}\n' >"$dir/daemon.json"
  PATH=$dir/root/usr/bin:$dir/root/usr/sbin:$PATH nohup "$dir/root/usr/sbin/dockerd" \
    --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/run/docker.pid" -H "unix://$socket" >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 60); do
    docker info 2>/dev/null | grep -q 'io.containerd.snapshotter' && return 0
    sleep 1
  done
  tail -20 "$dir/dockerd.log" >&2
  echo "the containerd-store engine did not start" >&2
  return 1
}

stop() {
  [ -f "$dir/run/docker.pid" ] || return 0
  local pid
  pid=$(cat "$dir/run/docker.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
}

"$@"
