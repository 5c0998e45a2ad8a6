"""What every benchmark result records about where it was measured."""
import datetime
import os
import platform

import spacy
import torch


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = float("nan")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "spacy": spacy.__version__,
        "torch": torch.__version__,
        "device": "cpu",
        "date": datetime.date.today().isoformat(),
        # Other work on the machine skews timings: record it with every result.
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
