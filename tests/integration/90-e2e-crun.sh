#!/bin/bash
# Wrapper: the crun + oci-hook end-to-end test (tests/e2e/crun-hook.sh); skips without crun.
command -v crun >/dev/null || { echo "1..0 # SKIP crun not installed"; exit 0; }
exec bash "$(dirname "$0")/../e2e/crun-hook.sh"
