#!/usr/bin/env bash
# System packages swarm-sentinel's run and test commands need, on Debian.
# Idempotent: installs only what is missing, and says in one line what failed.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have dockerd    || need+=(docker.io)
have iptables   || need+=(iptables)
have ip         || need+=(iproute2)
have nsenter    || need+=(util-linux)
have busybox    || need+=(busybox-static)
have promtool   || need+=(prometheus)
have prometheus || need+=(prometheus)
have prometheus-alertmanager || [ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
have curl       || need+=(curl)
have chromium   || need+=(chromium)   # the status page is checked in a real browser
have jsonnet    || need+=(jsonnet)    # grafana/mixin.libsonnet is evaluated
# The usage jobs' lab test runs one per lab node (compose/usage.yml runs the image).
[ -x /usr/bin/prometheus-node-exporter ] || need+=(prometheus-node-exporter)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "swarm-sentinel: missing packages (${need[*]}) and not root: run as root or install them" >&2
  exit 1
fi
if ! have apt-get; then
  echo "swarm-sentinel: missing packages (${need[*]}) and no apt-get to install them" >&2
  exit 1
fi
echo "installing: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
    >/tmp/swarm-sentinel-apt.log 2>&1; then
  echo "swarm-sentinel: could not install ${need[*]} with apt-get: $(tail -n 1 /tmp/swarm-sentinel-apt.log)" >&2
  exit 1
fi
# The Debian packages may start daemons of their own where an init system
# runs; the lab and the tests start their own, on their own sockets and ports.
