#!/usr/bin/env bash
# `make run`: swarm-sentinel against the swarm this machine belongs to, or,
# when there is none, against a local demo swarm (3 managers + 1 worker, each
# a dockerd in its own network namespace; `make lab-down` removes it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
SENTINEL=.venv/bin/swarm-sentinel

if [ -n "${DOCKER_HOST:-}${SWARM_SENTINEL_DOCKER_HOST:-}" ]; then
  exec "$SENTINEL" "$@"
fi
if [ -S /var/run/docker.sock ] &&
   curl -fsS --max-time 5 --unix-socket /var/run/docker.sock http://docker/info 2>/dev/null |
     grep -q '"ControlAvailable":true'; then
  echo "swarm-sentinel: using the local engine, a swarm manager" >&2
  exec "$SENTINEL" --docker.host unix:///var/run/docker.sock "$@"
fi

demo=(--name demo)
status=$("$PY" -m lab status "${demo[@]}" --json 2>/dev/null || true)
if ! grep -q '"leader": "' <<<"$status"; then
  echo "swarm-sentinel: no swarm on this machine: starting the demo swarm" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "swarm-sentinel: the demo swarm needs root (it starts dockerd in network namespaces)" >&2
    exit 1
  fi
  "$PY" -m lab up "${demo[@]}" --bridge ssdemo0 --subnet 10.124.0.0/24 \
    --managers 3 --workers 1 --engine "${LAB_ENGINE:-debian}"
  "$PY" scripts/demo_services.py
  status=$("$PY" -m lab status "${demo[@]}" --json)
fi
url=$("$PY" -c 'import json, sys
d = json.load(sys.stdin)
print(next(n["url"] for n in d["nodes"] if n["role"] == "manager"))' <<<"$status")
echo "swarm-sentinel: demo swarm manager at $url; metrics on http://localhost:9675/metrics" >&2
exec "$SENTINEL" --docker.host "$url" "$@"
