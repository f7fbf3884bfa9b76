"""costmodel: what a sequence model costs, from formulas.

Constructors mirror ``torch.nn`` (same names, arguments and defaults) and return an immutable
:class:`~costmodel.cost.Cost` record of sympy expressions in the sequence length ``n`` and the
batch size ``batch``::

    >>> import costmodel as cm
    >>> r = cm.LSTM(768, 768)
    >>> r.evaluate(n=512, batch=1)["params"]
    4724736

Time on a device: ``cm.predict(record, "a100", n=512, batch=8, dtype="fp16",
mode="inference")`` (per-phase seconds and per-kernel rows; ``cm.load_hardware(name_or_path)``
reads a catalogue device or a calibrated profile).

Conventions (1 multiply-add = 2 FLOPs, bias vectors, nonlinearity costs) live in
:mod:`costmodel.conventions`; every one is documented in docs/conventions.md.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Names resolve lazily so `import costmodel` stays fast and never builds a formula.
_EXPORTS = {
    "Cost": "costmodel.cost",
    "Kernel": "costmodel.cost",
    "Sequential": "costmodel.compose",
    "FIELDS": "costmodel.cost",
    "symbols": "costmodel.symbols",
    "conventions": "costmodel.conventions",
    "RNN": "costmodel.models.recurrent",
    "LSTM": "costmodel.models.recurrent",
    "GRU": "costmodel.models.recurrent",
    "Linear": "costmodel.models.layers",
    "Embedding": "costmodel.models.layers",
    "LayerNorm": "costmodel.models.layers",
    "ReLU": "costmodel.models.layers",
    "GELU": "costmodel.models.layers",
    "Tanh": "costmodel.models.layers",
    "Dropout": "costmodel.models.layers",
    "MultiheadAttention": "costmodel.models.attention",
    "TransformerEncoderLayer": "costmodel.models.transformer",
    "TransformerDecoderLayer": "costmodel.models.transformer",
    "TransformerEncoder": "costmodel.models.transformer",
    "TransformerDecoder": "costmodel.models.transformer",
    "Conv1d": "costmodel.models.conv",
    "Conv2d": "costmodel.models.conv",
    "MaxPool2d": "costmodel.models.conv",
    "CRNN": "costmodel.models.crnn",
    "S4": "costmodel.models.s4",
    "Mamba": "costmodel.models.mamba",
    "LinearAttention": "costmodel.models.linear_attention",
    "Linformer": "costmodel.models.linear_attention",
    "ConformerBlock": "costmodel.models.conformer",
    "AudioSpectrogramTransformer": "costmodel.models.ast",
    "ast_patch_grid": "costmodel.models.ast",
    "predict": "costmodel.api",
    "Prediction": "costmodel.api",
    "load_hardware": "costmodel.hardware",
    "expected_error": "costmodel.accuracy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        value = module if name in ("symbols", "conventions") else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'costmodel' has no attribute {name!r}")


def __dir__():
    """The public names once each (not this module's own imports), for tab completion."""
    return sorted({name for name in globals() if name.startswith("__")} | set(__all__))
