"""Whole torch modules next to their cost records: ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``, a
Python-loop ``nn.LSTMCell`` recurrence, ``nn.TransformerEncoderLayer``, its FFN and scaled
dot-product attention with the math and the efficient kernels. Three modes:

* ``inference``: what users time, ``module.eval()`` under ``torch.inference_mode()`` (dropout
  off, nothing saved, the Transformer fast path where PyTorch takes it); predicted with
  ``predict(..., mode="inference")``. ``costmodel validate`` times this and ``training``.
* ``forward``: a training-mode forward under ``no_grad`` (dropout on, nothing saved): what
  calibration fits its forward terms on (kept so a profile fits what it always fitted).
* ``training``: forward, ``sum().backward()`` and one Adam update, in training mode.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass

from . import require_torch
from .bench import torch_dtype
from .timing import QUIET_CORES, Device, measure, random_inputs, wait_quiet

FAMILIES = ("rnn", "lstm", "gru", "transformer")
MODES = ("forward", "training")  # what calibration times
VALIDATE_MODES = ("inference", "training")  # what validation times: what users run
HEAD_DIM = 64  # nhead = d / 64 as in costmodel compare (at least one head)
FFN_RATIO = 4  # dim_feedforward = 4 d
DROPOUT = 0.1  # torch.nn.TransformerEncoderLayer's default


@dataclass(frozen=True)
class Config:
    family: str
    n: int
    d: int
    batch: int
    mode: str
    dtype: str = "fp32"

    @property
    def key(self) -> str:
        return f"{self.family} n={self.n} d={self.d} batch={self.batch} {self.mode} {self.dtype}"

    def as_dict(self) -> dict:
        return asdict(self)


def heads(d: int) -> int:
    return max(1, d // HEAD_DIM)


def cost_record(cfg: Config):
    """The costmodel record for the torch module :func:`torch_module` builds."""
    import costmodel as cm

    if cfg.family == "transformer":
        return cm.TransformerEncoderLayer(cfg.d, heads(cfg.d), FFN_RATIO * cfg.d, DROPOUT)
    return getattr(cm, cfg.family.upper())(cfg.d, cfg.d)


def memory_record(cfg: Config, device_kind: str):
    """The record whose ``activation_bytes`` models what this device's PyTorch saves: on the
    CPU, nn.RNN/nn.GRU run the decomposed cell graph (``implementation="autograd"``) and
    dropout keeps its noise in the activation dtype; nn.LSTM's oneDNN workspace is not modelled
    (the fused record stands, docs/conventions.md gives the measured gap). On CUDA, the
    defaults (cuDNN reserve space, bool dropout masks)."""
    import costmodel as cm
    from costmodel import symbols as S

    if device_kind != "cpu":
        return cost_record(cfg)
    if cfg.family == "transformer":
        return cm.TransformerEncoderLayer(cfg.d, heads(cfg.d), FFN_RATIO * cfg.d, DROPOUT,
                                          mask_bytes=S.dtype_bytes)
    if cfg.family in ("rnn", "gru"):
        return getattr(cm, cfg.family.upper())(cfg.d, cfg.d, implementation="autograd")
    return cost_record(cfg)


def torch_module(cfg: Config, device: Device):
    torch = require_torch()
    nn = torch.nn
    if cfg.family == "transformer":
        module = nn.TransformerEncoderLayer(cfg.d, heads(cfg.d), FFN_RATIO * cfg.d, DROPOUT)
    else:
        module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cfg.family](cfg.d, cfg.d)
    return module.to(device=device.torch_device, dtype=torch_dtype(cfg.dtype)).train()


def _output(out):
    return out[0] if isinstance(out, tuple) else out


def step_function(cfg: Config, module):
    """``fn(x)`` running one forward (no grad) or one training step of ``module``."""
    torch = require_torch()
    if cfg.mode == "inference":
        module.eval()

        def inference(x):
            with torch.inference_mode():
                return module(x)
        return inference
    if cfg.mode == "forward":
        def forward(x):
            with torch.no_grad():
                return module(x)
        return forward
    optimizer = torch.optim.Adam(module.parameters())

    def train(x):
        _output(module(x)).sum().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return train


def make_inputs(cfg: Config, device: Device, count: int | None = None) -> list:
    torch = require_torch()
    shape = (cfg.n, cfg.batch, cfg.d)  # (seq, batch, features): torch's default layout
    make = lambda: torch.randn(*shape, device=device.torch_device, dtype=torch_dtype(cfg.dtype))
    return random_inputs(make) if count is None else random_inputs(make, count)


NOISY_SPREAD = 0.25  # (p90 - p10) / median above this: the timing was disturbed, retake it


def time_config(cfg: Config, device: Device, budget_s: float = 1.0, quiet_s: float = 0.0):
    """Measurement of one configuration (module built once, inputs rotated). With
    ``quiet_s`` > 0 (a CPU shared with other jobs): wait up to ``quiet_s`` for other processes
    to go quiet first, and retake a timing that other processes disturbed (busy cores above
    ``timing.QUIET_CORES``) or whose repeats spread widely, keeping the lower median."""
    module = torch_module(cfg, device)
    fn, inputs = step_function(cfg, module), make_inputs(cfg, device)
    if quiet_s > 0:
        wait_quiet(quiet_s)
    m = measure(fn, inputs, device, budget_s=budget_s)
    if quiet_s > 0 and _disturbed(m):
        wait_quiet(quiet_s)
        again = measure(fn, inputs, device, budget_s=budget_s, warmup=1)
        m = min(m, again, key=lambda t: t.median_s)
    return m


def recurrent_step(family: str, mode: str, hidden: int, batch: int, lengths: tuple,
                   device: Device, budget_s: float = 0.1, quiet_s: float = 0.0,
                   dtype: str = "fp32") -> dict:
    """The module (``nn.RNN/LSTM/GRU(hidden, hidden)``, ``mode`` forward or training) timed at
    two sequence lengths: their difference over the extra steps is the time of one recurrent
    step as the implementation runs it (step GEMM, gates, dispatch), plus the share of the
    per-token kernels (input projection, weight gradients) that :func:`fit.fit_steps`
    subtracts with the roofline."""
    short, long = (time_config(Config(family, n, hidden, batch, mode, dtype), device,
                               budget_s=budget_s, quiet_s=quiet_s) for n in lengths)
    return {"bench": "recurrent_step", "family": family, "mode": mode, "d": hidden,
            "batch": batch, "dtype": dtype, "n_short": lengths[0], "n_long": lengths[1],
            "short_s": short.median_s, "long_s": long.median_s}


def _disturbed(m) -> bool:
    return (m.busy_cores > QUIET_CORES
            or (m.p90_s - m.p10_s) > NOISY_SPREAD * max(m.median_s, 1e-12))


@contextmanager
def saved_storages(module):
    """Inside the block, record what autograd saves for backward: ``{storage pointer: bytes}``,
    each storage once, the module's parameters excluded. Yields the (filling) dict."""
    torch = require_torch()
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield seen


def saved_bytes(cfg: Config, device: Device) -> int:
    """Bytes autograd saves for backward (each storage once, parameters excluded)."""
    module = torch_module(cfg, device)
    x = make_inputs(cfg, device, count=1)[0]
    with saved_storages(module) as seen:
        out = _output(module(x))
    del out
    return sum(seen.values())


def peak_allocated_bytes(cfg: Config, device: Device) -> int:
    """CUDA only: peak bytes allocated during one training step beyond the resident ones."""
    torch = require_torch()
    module = torch_module(cfg, device)
    step = step_function(cfg, module)
    x = make_inputs(cfg, device, count=1)[0]
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step(x)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def lstm_cell_loop(device: Device, n: int, d: int, batch: int, budget_s: float = 1.0):
    """A Python loop over ``nn.LSTMCell`` (no hoisted input projection, one call per step)."""
    torch = require_torch()
    cell = torch.nn.LSTMCell(d, d).to(device.torch_device)
    h0 = torch.randn(batch, d, device=device.torch_device)

    def run(x):
        with torch.no_grad():
            h, c = h0, h0
            for t in range(x.shape[0]):
                h, c = cell(x[t], (h, c))
        return h
    cfg = Config("lstm", n, d, batch, "forward")
    return measure(run, make_inputs(cfg, device), device, budget_s=budget_s)
