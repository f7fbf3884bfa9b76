"""Does a GPU slow down as one kernel runs longer? ``python tools/duration_slope.py``

NeuSight's bmm rows time the same (m, n, k) at several batch sizes, so the duration varies
while the per-tile work does not. Per GPU and shape group (at least three batches spanning
more than a factor e of duration), the slope of log(predicted / measured) against
log(measured seconds), predictions from the shipped cuBLAS fit: about 0 on a part that
holds its clock, negative where a long kernel runs at a lower clock than a short one
(docs/validation.md, "Found, not kept (session 11)")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from costmodel.reference import neusight


def slopes() -> pd.DataFrame:
    """One row per (gpu, m, n, k) group: its slope and duration range."""
    f = neusight.rows()
    f = f[f.family == "bmm"].reset_index(drop=True)
    f["log_error"] = np.log(neusight.predict(f, neusight.fitted_on_all()) / f.measured_s)
    out = []
    for (gpu, m, n, k), g in f.groupby(["gpu", "m", "n", "k"]):
        x = np.log(g.measured_s.to_numpy(float))
        if g.batch.nunique() < 3 or x.max() - x.min() < 1:
            continue
        out.append({"gpu": gpu, "m": m, "n": n, "k": k,
                    "slope": np.polyfit(x, g.log_error.to_numpy(float), 1)[0],
                    "shortest_s": g.measured_s.min(), "longest_s": g.measured_s.max()})
    return pd.DataFrame(out)


def main() -> None:
    table = slopes().groupby("gpu").slope.describe()[["count", "25%", "50%", "75%"]]
    print("slope of log(predicted / measured) on log(duration), per shape group")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
