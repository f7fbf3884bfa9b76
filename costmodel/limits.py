"""Documented bounds of the CLI and of sweeps (kept light: the CLI imports this at start-up).

The Python records take sizes of any magnitude (counts past int64 come back as exact Python
ints). The command line and :func:`costmodel.sweep.sweep` refuse, with a message naming the
option and the bound, what lies beyond these.
"""

#: The largest size (n, d, batch, heads, ffn; layers: MAX_LAYERS) the CLI and a sweep accept:
#: 2**53, the last integer from which float64, which the time estimates use, still holds every
#: integer.
LARGEST_SIZE = 2 ** 53
#: The deepest stack (--layers) the CLI accepts (the library takes any): ten times the
#: deepest published one, DeepNet's 1,000-layer Transformer (Wang et al. 2022, "DeepNet:
#: Scaling Transformers to 1,000 Layers", arXiv:2203.00555). Records are built layer by
#: layer, so the work grows with the depth (compare at 10,000 layers: seconds; 100,000:
#: minutes).
MAX_LAYERS = 10 ** 4
#: Rows (points x models) above which ``costmodel sweep`` asks for ``--yes``: about 200 MB of
#: CSV and a minute or more of work.
MAX_ROWS = 10 ** 6
#: Values one axis (n, d or batch) of a sweep may have, ``--yes`` or not (an axis is held in
#: memory whole; the grid is not).
MAX_AXIS_VALUES = 10 ** 7
#: Grid points a sweep evaluates at once: bounds its memory whatever the grid's size.
CHUNK_POINTS = 1 << 13
