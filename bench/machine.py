"""What machine a benchmark ran on, in one line, for every bench's report."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cores() -> str:
    count = str(os.cpu_count())
    if hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
        if str(usable) != count:
            count += f" ({usable} usable)"
    return count


def cpu_times() -> tuple[float, float, float]:
    """Seconds the machine's CPUs spent (busy, idle, stolen) since boot, from /proc/stat: on a
    virtual machine, "stolen" is time the hypervisor gave to other guests while ours wanted to
    run. A bench reports it, as noisy neighbours slow every figure it prints."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0, 0.0, 0.0
    ticks = [int(v) for v in fields] + [0] * 8
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq) / hz, (idle + iowait) / hz, steal / hz


def steal_share(before: tuple[float, float, float], after: tuple[float, float, float]) -> float:
    """Stolen time as a share of the time our CPUs wanted (busy + stolen) between two readings."""
    busy, _, steal = (b - a for a, b in zip(before, after, strict=True))
    return steal / (busy + steal) if busy + steal > 0 else 0.0


def machine() -> str:
    return (f"{platform.platform()}; {cpu_model()}; {cores()} CPUs; "
            f"{platform.python_implementation()} {platform.python_version()}")
