#!/bin/bash
# Wrapper: berth's CNI plugins under containerd's CRI plugin, driven as kubelet drives it
# (tests/e2e/containerd-cri.sh).
exec bash "$(dirname "$0")/../e2e/containerd-cri.sh"
