#!/bin/bash
# Wrapper: berth's CNI plugins (and the embedded `berth` network) under containerd's
# `ctr run --cni` (tests/e2e/containerd-cni.sh).
exec bash "$(dirname "$0")/../e2e/containerd-cni.sh"
