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


def machine() -> str:
    return (f"{platform.platform()}; {cpu_model()}; {cores()} CPUs; "
            f"{platform.python_implementation()} {platform.python_version()}")
