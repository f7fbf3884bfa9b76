"""Validation: torch micro-benchmarks that calibrate the roofline and measure its error.

torch is an optional extra (``pip install '.[validation]'`` in the costmodel source tree); nothing outside this
package imports it. Modules: :mod:`.timing` (how one thing is timed), :mod:`.bench` (the
micro-benchmarks), :mod:`.modules` (full torch modules and their cost records),
:mod:`.calibrate` (fitting a device profile), :mod:`.validate` (the held-out grid and its
error statistics), :mod:`.report` (JSON, CSV, plot, atomic writes).
"""

from __future__ import annotations

INSTALL_HINT = ("pip install '.[validation]' in the costmodel source tree (the PyPI "
                "project named costmodel is another one)")


class MissingTorch(RuntimeError):
    """torch is not installed: the validation commands cannot run."""


def require_torch():
    """The torch module, or :class:`MissingTorch` saying which extra to install."""
    try:
        import torch
    except ImportError:
        raise MissingTorch("validation needs torch, which is not installed; install the "
                           f"extra: {INSTALL_HINT}") from None
    return torch
