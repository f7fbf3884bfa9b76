"""Small numpy-only fitting helpers (no scipy): relative least squares of a non-negative
combination, and a log-spaced grid search over efficiencies around it."""

from __future__ import annotations

import numpy as np


def relative_nnls(columns: np.ndarray, offset: np.ndarray, measured: np.ndarray,
                  scale: np.ndarray | None = None) -> np.ndarray:
    """Non-negative x minimising sum(((columns @ x + offset - measured) / scale)^2), scale
    defaulting to ``measured`` (relative errors).

    ``columns``: [rows, k] with k small (every subset of active variables is tried, so the
    result is the exact constrained optimum)."""
    scale = measured if scale is None else scale
    a = columns / scale[:, None]
    b = (measured - offset) / scale
    k = a.shape[1]
    best, best_x = np.inf, np.zeros(k)
    for mask in range(1 << k):
        active = [j for j in range(k) if mask >> j & 1]
        x = np.zeros(k)
        if active:
            solution, *_ = np.linalg.lstsq(a[:, active], b, rcond=None)
            if np.any(solution < 0):
                continue
            x[active] = solution
        loss = float(np.sum((a @ x - b) ** 2))
        if loss < best - 1e-15:
            best, best_x = loss, x
    return best_x

