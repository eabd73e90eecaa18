#!/usr/bin/env bash
# Installs the servers the test suite runs for real: redis-server (when no Docker engine is reachable
# for testcontainers; it is also the Sentinel, as `redis-server --sentinel`), prometheus/promtool, and openssl
# (the TLS tests make their own CA). Idempotent: installs only what is missing.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
