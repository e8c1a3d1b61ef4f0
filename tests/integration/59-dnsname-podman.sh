#!/bin/bash
# Wrapper: podman 4 resolves container names through dnsname (tests/e2e/podman-dnsname.sh).
command -v podman >/dev/null || { echo "1..0 # SKIP podman not installed"; exit 0; }
exec bash "$(dirname "$0")/../e2e/podman-dnsname.sh"
