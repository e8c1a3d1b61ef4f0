#!/bin/bash
# Wrapper: podman 4 with our macvlan on a parent of our own (tests/e2e/podman-macvlan.sh);
# skips without podman.
command -v podman >/dev/null || { echo "1..0 # SKIP podman not installed"; exit 0; }
exec bash "$(dirname "$0")/../e2e/podman-macvlan.sh"
