"""Timing method: percentiles per round, the median of rounds with min and max, ratios from alternating rounds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def percentile(xs: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def spread(values: Sequence[float], digits: int = 2) -> dict:
    """The median of per-round values, with the min and max across rounds."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "rounds": len(values),
    }


def time_ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def latency_rounds(calls: Sequence[Callable[[], object]], *, rounds: int, repeat: int = 1) -> dict:
    """Each round runs every call `repeat` times; returns p50 and p95 spreads (ms) over rounds."""
    for c in calls:  # warm-up: plans, caches, connections
        c()
    p50s, p95s = [], []
    for _ in range(rounds):
        samples = [time_ms(c) for _ in range(repeat) for c in calls]
        p50s.append(percentile(samples, 50))
        p95s.append(percentile(samples, 95))
    return {"p50": spread(p50s), "p95": spread(p95s), "samples_per_round": len(calls) * repeat}


def ratio_rounds(
    with_: Callable[[], object], without: Callable[[], object], *, rounds: int, repeat: int
) -> dict:
    """with/without as a ratio of per-round medians, the two sides alternating which goes first each round
    (so drift, caches and background load hit both equally)."""
    with_()
    without()
    ratios, a_ms, b_ms = [], [], []
    for r in range(rounds):
        order = (with_, without) if r % 2 == 0 else (without, with_)
        got = {}
        for fn in order:
            got[fn] = statistics.median(time_ms(fn) for _ in range(repeat))
        ratios.append(got[with_] / got[without])
        a_ms.append(got[with_])
        b_ms.append(got[without])
    return {"ratio": spread(ratios, 3), "with_ms": spread(a_ms), "without_ms": spread(b_ms)}
