"""Small numpy-only fitting helpers (no scipy): relative least squares of a non-negative
combination, and a log-spaced grid search over efficiencies around it."""

from __future__ import annotations

import numpy as np


def relative_nnls(columns: np.ndarray, offset: np.ndarray, measured: np.ndarray,
                  scale: np.ndarray | None = None) -> np.ndarray:
    """Non-negative x minimising sum(((columns @ x + offset - measured) / scale)^2), scale
    defaulting to ``measured`` (relative errors).

    ``columns``: [rows, k]."""
    scale = measured if scale is None else scale
    return lawson_hanson(columns / scale[:, None], (measured - offset) / scale)


def lawson_hanson(a: np.ndarray, b: np.ndarray, tolerance: float = 1e-12) -> np.ndarray:
    """Non-negative x minimising ||a @ x - b||: Lawson and Hanson's active-set method
    (Solving Least Squares Problems, 1974, ch. 23), the exact optimum of this convex problem
    in at most a few passes per column."""
    k = a.shape[1]
    x, active = np.zeros(k), np.zeros(k, dtype=bool)
    for _ in range(3 * k + 1):
        gradient = a.T @ (b - a @ x)
        candidates = np.where(~active, gradient, -np.inf)
        if active.all() or candidates.max() <= tolerance * max(1.0, np.abs(gradient).max()):
            break
        active[int(np.argmax(candidates))] = True
        while True:
            z = np.zeros(k)
            z[active] = np.linalg.lstsq(a[:, active], b, rcond=None)[0]
            if np.all(z[active] > 0):
                x = z
                break
            blocked = active & (z <= 0)
            gap = x[blocked] - z[blocked]  # > 0 unless a new column came in at 0: step 0
            step = np.min(np.where(gap > 0, x[blocked] / np.where(gap > 0, gap, 1.0), 0.0))
            x = x + step * (z - x)
            active &= x > tolerance
            x[~active] = 0.0
    return x
