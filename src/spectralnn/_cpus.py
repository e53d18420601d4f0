"""How many CPUs this process may use: the one answer behind every default of parallel work.

``os.cpu_count()`` counts the machine's CPUs. A process pinned to some of them
(``taskset``, a batch scheduler) or a container with a CPU quota (``docker --cpus 2``) gets
fewer, and as many workers as ``os.cpu_count()`` would then share those few cores. So
:func:`usable_cpus` is the smallest of

- the CPUs of the process's affinity mask (``os.sched_getaffinity``, where the OS has one),
- the cgroup's CPU quota rounded up (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` over
  ``cpu.cfs_period_us``), when one is set,

and at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["usable_cpus"]

#: Where a container's CPU quota is read (cgroup v2, then v1).
_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _quota(root: Path) -> int | None:
    """The cgroup's CPU quota in whole CPUs (rounded up), or None when there is none."""
    try:
        text = (root / "cpu.max").read_text().split()
        if len(text) == 2 and text[0] != "max":
            return math.ceil(int(text[0]) / int(text[1]))
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return math.ceil(quota / period)
    except (OSError, ValueError):
        pass
    return None


def usable_cpus(cgroup_root: Path = _CGROUP_ROOT) -> int:
    """The CPUs this process may run on at once (affinity, within a cgroup quota), ≥ 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this OS (macOS, Windows)
        n = os.cpu_count() or 1
    quota = _quota(cgroup_root)
    if quota is not None:
        n = min(n, quota)
    return max(1, n)
