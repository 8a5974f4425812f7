#!/usr/bin/env bash
# A second Docker engine with the containerd image store (what Docker 29 gives
# every new install): Debian 13's docker.io 26 and containerd 1.7, unpacked
# into a folder (the system's apt stays as it is) and started beside the
# classic 20.10 engine on its own socket.
#   .ci/containerd-engine.sh DIR   -> prints the socket's DOCKER_HOST
set -euo pipefail
dir=${1:-/opt/difflayers-containerd}
socket=$dir/run/docker.sock
mkdir -p "$dir/apt/lists/partial" "$dir/debs" "$dir/root" "$dir/run" "$dir/exec" "$dir/data"
if [ ! -x "$dir/root/usr/sbin/dockerd" ]; then
  mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' "$mirror" >"$dir/apt/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$dir/apt/sources.list" -o Dir::Etc::sourceparts=/nonexistent
            -o "Dir::State::Lists=$dir/apt/lists" -o APT::Get::List-Cleanup=0)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$dir/debs" && apt-get "${apt_opts[@]}" download docker.io containerd >/dev/null)
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
  # Debian 13's runc needs glibc 2.38; Debian 12's (package runc) is used instead.
  rm -f "$dir/root/usr/sbin/runc" "$dir/root/usr/bin/runc"
fi
command -v runc >/dev/null || apt-get install -y -qq runc >/dev/null
printf '{"features":{"containerd-snapshotter":true}}\n' >"$dir/daemon.json"
if ! DOCKER_HOST=unix://$socket docker info >/dev/null 2>&1; then
  PATH=$dir/root/usr/bin:$dir/root/usr/sbin:$PATH nohup "$dir/root/usr/sbin/dockerd" \
    --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/run/docker.pid" -H "unix://$socket" \
    --bridge none --iptables=false --ip6tables=false >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 60); do DOCKER_HOST=unix://$socket docker info >/dev/null 2>&1 && break; sleep 1; done
fi
DOCKER_HOST=unix://$socket docker info --format '{{.ServerVersion}} {{.Driver}} {{.DriverStatus}}' >&2
echo "unix://$socket"
