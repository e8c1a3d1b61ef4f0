#!/bin/bash
# Wrapper: containerd with berth-snapshotter (overlay) as a proxy snapshotter and berth's CNI
# plugins, end to end (tests/e2e/containerd.sh).
exec bash "$(dirname "$0")/../e2e/containerd.sh"
