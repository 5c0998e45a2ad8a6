"""The one timing method of every benchmark in this folder.

- `measure(fn)`: one warm-up call (caches, lazy initialisation, allocator), then at
  least 3 timed calls; the median is the figure, min-max its spread.
- `alternate(fn_a, fn_b)`: a comparison of two variants. Each is warmed up, then they
  run in turns (a, b, a, b, ...) in the same process, so a change of machine load hits
  both alike; the ratio is taken per round (time b / time a) and summarised the same way.
  The times of each round are returned too, for other per-round ratios.
- `peak_rss_mb()`: the process's peak resident set size. The harness runs every
  benchmark in its own process, so the figure belongs to that benchmark alone.
"""
import resource
import statistics
import sys
import time
from typing import Callable, Dict, List

MIN_REPEATS = 3


def summary(values: List[float]) -> Dict[str, float]:
    """Median with min-max of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(fn: Callable[[], object], repeats: int = MIN_REPEATS, warmup: int = 1) -> Dict[str, float]:
    """Seconds per call of `fn`: median, min and max over `repeats` calls after `warmup`."""
    repeats = max(repeats, MIN_REPEATS)
    for _ in range(warmup):
        fn()
    return summary([_timed(fn) for _ in range(repeats)])


def alternate(fn_a: Callable[[], object], fn_b: Callable[[], object], repeats: int = MIN_REPEATS,
              warmup: int = 1) -> Dict[str, Dict[str, float]]:
    """Time two variants in turns. RETURNS: {"a": seconds, "b": seconds, "ratio": b / a per round,
    "rounds": {"a": [...], "b": [...]}} (the times of each round, for other per-round ratios)."""
    repeats = max(repeats, MIN_REPEATS)
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(_timed(fn_a))
        times_b.append(_timed(fn_b))
    return {"a": summary(times_a), "b": summary(times_b),
            "ratio": summary([b / a for a, b in zip(times_a, times_b)]), "rounds": {"a": times_a, "b": times_b}}


def rate(count: float, seconds: Dict[str, float]) -> Dict[str, float]:
    """Items per second from a seconds summary (the slowest run gives the minimum rate)."""
    return {"median": count / seconds["median"], "min": count / seconds["max"], "max": count / seconds["min"],
            "n": seconds["n"]}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def current_rss_mb() -> float:
    """Resident set size now, in MiB (Linux; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return peak_rss_mb()


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS mark (Linux: VmHWM, via /proc/self/clear_refs), so
    `peak_rss_since_reset_mb` reads the peak from now on. False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_since_reset_mb() -> float:
    """Peak RSS since `reset_peak_rss` (Linux VmHWM), in MiB; the lifetime peak elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    return peak_rss_mb()
