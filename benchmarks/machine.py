"""What the machine was doing while a benchmark ran: recorded next to every result, so a reader can
judge a number measured on a shared or loaded machine."""

from __future__ import annotations

import os
import platform
import time
from typing import Any


def machine_facts() -> dict[str, Any]:
    """CPU count, memory, Python and the 1/5/15-minute load averages at this moment.

    Call it before and after a measurement (``{"before": machine_facts(), ...}``); a load average above
    the CPU count means other work shared the machine.
    """
    load1, load5, load15 = os.getloadavg()
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError):
        memory_gib = None
    return {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_avg_1_5_15": [round(load1, 2), round(load5, 2), round(load15, 2)],
    }
