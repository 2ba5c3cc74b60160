"""Which device torch runs on, and how many CPU threads it may use."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def cpu_quota(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: the cgroup quota (containers) or the affinity mask."""
    available = len(os.sched_getaffinity(0))
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()
        if quota != "max":
            return max(1, min(available, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota_us > 0:
            return max(1, min(available, quota_us // period_us))
    except (OSError, ValueError):
        pass
    return available


def choose_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"DEVICE={setting} but torch sees no CUDA device")
    return device


def configure_torch(device_setting: str, threads: int) -> torch.device:
    device = choose_device(device_setting)
    count = threads or cpu_quota()
    torch.set_num_threads(count)
    log.info("torch on %s with %d CPU threads", device, count)
    return device
