"""Documented bounds of the CLI and of sweeps (kept light: the CLI imports this at start-up).

The Python records take sizes of any magnitude (counts past int64 come back as exact Python
ints). The command line and :func:`costmodel.sweep.sweep` refuse, with a message naming the
option and the bound, what lies beyond these.
"""

#: The largest size (n, d, batch, heads, layers, ffn) the CLI and a sweep accept: 2**53, the
#: last integer from which float64, which the time estimates use, still holds every integer.
LARGEST_SIZE = 2 ** 53
#: Rows (points x models) above which ``costmodel sweep`` asks for ``--yes``: about 200 MB of
#: CSV and a minute or more of work.
MAX_ROWS = 10 ** 6
#: Values one axis (n, d or batch) of a sweep may have, ``--yes`` or not (an axis is held in
#: memory whole; the grid is not).
MAX_AXIS_VALUES = 10 ** 7
#: Grid points a sweep evaluates at once: bounds its memory whatever the grid's size.
CHUNK_POINTS = 1 << 13
