"""Closed-form estimators for an experiment's outcomes (stdlib only).

- `wilson`: the Wilson score interval for one proportion (Newcombe 1998a, method 3).
- `newcombe`: the hybrid score interval for a difference of two independent proportions,
  built from the two Wilson intervals (Newcombe 1998b, method 10, no continuity correction).
- `newcombe_p_value`: the smallest two-sided level at which that interval excludes 0 (found by
  bisection on z), so that a single-task comparison has a p-value that agrees with its interval.
- `pass_at_k` / `pass_hat_k`: the unbiased estimators from n runs with c successes of "at least
  one of k runs passes" (1 - C(n-c,k)/C(n,k)) and "all k runs pass" (C(c,k)/C(n,k)).
- `holm`: Holm's step-down adjustment of a family of p-values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist


def z_for(level: float) -> float:
    """The two-sided normal quantile of a confidence level (0.95 -> 1.96)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of successes/n; (0, 1) when there are no trials."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def newcombe(s1: int, n1: int, s2: int, n2: int, z: float) -> tuple[float, float]:
    """Hybrid score interval of p1 - p2 (group 1: s1 of n1, group 2: s2 of n2)."""
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson(s1, n1, z)
    l2, u2 = wilson(s2, n2, z)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def newcombe_p_value(s1: int, n1: int, s2: int, n2: int, iterations: int = 80) -> float:
    """Two-sided p-value: 2(1 - Phi(z*)), z* the z at which the Newcombe interval touches 0."""
    d = s1 / n1 - s2 / n2
    if d == 0:
        return 1.0
    low, high = 0.0, 60.0  # the interval excludes 0 at z=0 (a point) and includes it at z=60

    def excludes(z: float) -> bool:
        lo, hi = newcombe(s1, n1, s2, n2, z)
        return lo > 0 or hi < 0

    for _ in range(iterations):
        middle = (low + high) / 2
        if excludes(middle):
            low = middle
        else:
            high = middle
    return min(1.0, 2 * (1 - NormalDist().cdf((low + high) / 2)))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate that at least one of k runs (drawn from these n, c passed) passes."""
    if not 0 < k <= n:
        raise ValueError(f"pass@k needs 0 < k <= n (k={k}, n={n})")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate that all k runs (drawn from these n, c passed) pass."""
    if not 0 < k <= n:
        raise ValueError(f"pass^k needs 0 < k <= n (k={k}, n={n})")
    return math.comb(c, k) / math.comb(n, k)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input's order: the i-th smallest of m is multiplied by
    (m - i), made non-decreasing along the sorted order, and capped at 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
