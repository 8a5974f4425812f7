#!/usr/bin/env bash
# The benchmark on both image stores in one run, as this repository's CI
# machine has them: Docker 20.10 (classic store, `dockerd`) then Docker 26
# with containerd's store (.ci/containerd-engine.sh), the same commit and
# machine; then docs/benchmark.json, docs/benchmark.md's table and the chart from
# those rows only. Arguments go to each engine's run (e.g. --scenario sample).
#   scripts/benchmark-both-stores.sh [--scenario NAME]... [--case fresh|kept]...
# With --link MB_PER_S the rows go to docs/benchmark-link.json and the table
# between docs/benchmark.md's benchmark-link markers (the loopback run's stay).
# On a machine with one engine, run scripts/benchmark.py on it instead.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
parts=$(mktemp -d)
trap 'rm -rf "$parts"' EXIT

stop_classic() {
  [ -f /var/run/docker.pid ] || return 0
  local pid; pid=$(cat /var/run/docker.pid)
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
}
start_classic() {
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "dockerd did not start" >&2; return 1
}

.ci/containerd-engine.sh stop
docker info >/dev/null 2>&1 || start_classic
"$python" scripts/benchmark.py "$@" --json "$parts/classic.json"
stop_classic
.ci/containerd-engine.sh start
docker image inspect debian:bookworm-slim >/dev/null 2>&1 || {
  echo "the containerd-store engine has no debian:bookworm-slim (docker load it, as .ci/run does)" >&2; exit 1; }
"$python" scripts/benchmark.py "$@" --json "$parts/containerd.json"
case " $* " in
  *" --link "*) outputs=(--json docs/benchmark-link.json --readme docs/benchmark.md) ;;
  *) outputs=(--json docs/benchmark.json --readme docs/benchmark.md --svg docs/pushed-bytes.svg) ;;
esac
"$python" scripts/benchmark.py --combine "$parts/classic.json" "$parts/containerd.json" "${outputs[@]}"
