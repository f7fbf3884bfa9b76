"""The public time API: ``costmodel.predict(record, gpu, n=, batch=, dtype=, mode=)``.

One call, no module paths: a record (``cm.LSTM(768, 768)``, ``cm.TransformerEncoderLayer(...)``)
and a device (a catalogue name, a hardware/profile TOML path or a
:class:`~costmodel.hardware.Hardware`) give per-phase seconds and one row per kernel. The
arithmetic is :func:`costmodel.roofline.predict`, the one ``costmodel compare`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.implementations.cudnn_stack import DEFAULT as DEFAULT_STACK

#: Kernel-name endings of the attention core (math: scores, softmax, av; fused: one kernel).
ATTENTION_CORE = ("scores", "softmax", "av", "flash_attention")


@dataclass(frozen=True)
class KernelTime:
    """One kernel of the prediction: launches ``count`` x ``seconds`` each."""

    name: str
    phase: str  # forward, backward, update
    count: float
    seconds: float  # per launch (the roofline's lower bound)
    binding: str  # compute, memory or latency
    implementation: str  # which implementation runs it (e.g. "sdpa:memory-efficient")
    flops: float = 0.0  # per launch
    bytes: float = 0.0  # per launch, moved to or from memory

    @property
    def total_s(self) -> float:
        return self.count * self.seconds


@dataclass(frozen=True)
class Prediction:
    """Seconds per phase (``phases``: forward, and in training also backward, optimizer, and
    ``total``), per-kernel rows, what was assumed (``attention``: the SDPA kernel, None for
    records without attention) and ``saved_bytes``: what the forward keeps for backward (the
    record as it runs there; 0 in inference, which saves nothing)."""

    gpu: str
    mode: str
    dtype: str
    phases: dict
    kernels: tuple[KernelTime, ...]
    attention: dict | None
    timing: object  # the full costmodel.roofline.Timing
    saved_bytes: int = 0

    @property
    def total_s(self) -> float:
        return self.phases["total"]

    def to_frame(self):
        """One row per kernel as a pandas DataFrame (SI units; costmodel.display)."""
        from costmodel.display import prediction_frame
        return prediction_frame(self)

    def __repr__(self) -> str:  # a terminal: phases and kernels, not the full Timing
        from costmodel.display import prediction_text
        return prediction_text(self)

    def _repr_html_(self) -> str:
        from costmodel.display import prediction_html
        return prediction_html(self)


def _scalar(value) -> float:
    array = np.asarray(value, dtype=float)
    if array.size != 1:
        raise ValueError("costmodel.predict takes one point (scalar n, batch, sizes); use "
                         "costmodel.roofline.predict or sweep for grids")
    return float(array.reshape(()))


def _implementation(name: str, family: str, attention) -> str:
    """``sdpa:<kernel>`` for the attention core's kernels, else the record's family."""
    parts = name.removesuffix(".backward").split(".")
    if attention is not None and parts[-1] in ATTENTION_CORE:
        return f"sdpa:{attention.kernel}"
    return family


def predict(record, gpu, *, n, batch=1, dtype: str = "fp32", mode: str = "training",
            optimizer: str = "adam", allow_tf32: bool = False, cudnn_stack: str = DEFAULT_STACK,
            host=None, **sizes) -> Prediction:
    """Time of ``record`` on ``gpu`` at sequence length ``n`` and ``batch``.

    ``mode="inference"``: ``model.eval()`` under ``torch.inference_mode()`` (dropout off,
    nothing saved, the kernel PyTorch's inference path picks): the forward only.
    ``mode="training"``: a train-mode forward, the backward and one ``optimizer`` update.
    ``mode="prefill"`` / ``"decode"``: an inference forward over a KV cache
    (:mod:`costmodel.decode`): the ``n``-token prompt (time to first token), or one generated
    token per sequence at context ``n`` (query length 1).
    ``sizes`` bind any size symbols the record was built with (``d=768``).
    ``cudnn_stack``: the cuDNN generation whose step floor prices a recurrence on an NVIDIA GPU
    (:mod:`costmodel.implementations.cudnn_stack`: "auto", the default: cuDNN 8 on Ampere, Ada
    and Hopper, DeepBench's floors on older GPUs; "deepbench" or "pr62143" to choose).
    ``host``: a calibrated profile (path or Hardware) whose measured host-issue costs bound a
    recurrence's phases (:mod:`costmodel.implementations.host_issue`), the preset
    ``"h200-cloud-vm"`` (three H200 cloud VMs' costs), or None (none).
    """
    from costmodel.hardware import Hardware, load_hardware
    from costmodel.implementations.cudnn_stack import check_stack
    from costmodel.implementations.sdpa import resolve
    from costmodel.roofline import family_of
    from costmodel.roofline import predict as roofline

    from costmodel.implementations.host_issue import with_host

    hw = with_host(gpu if isinstance(gpu, Hardware) else load_hardware(gpu), host)
    check_stack(cudnn_stack)
    served = mode
    if mode in ("prefill", "decode"):  # the same formulas at another query length
        from costmodel.decode import cached, step_values

        record = cached(record)
        at = step_values(record, mode, n)
        n, mode, sizes = at.pop("n"), "inference", {**sizes, **at}
    record = resolve(record, hw, dtype, mode)[0]  # as PyTorch runs it there
    t = roofline(record, hw, dtype=dtype, optimizer=optimizer, allow_tf32=allow_tf32,
                 mode=mode, cudnn_stack=cudnn_stack, n=n, batch=batch, **sizes)
    phases = {"forward": _scalar(t.forward_s)}
    if mode == "training":
        phases.update(backward=_scalar(t.backward_s), optimizer=_scalar(t.optimizer_s))
    phases["total"] = sum(phases.values())
    family = family_of(record)
    rows = tuple(KernelTime(k["name"], k["phase"], _scalar(k["count"]), _scalar(k["lower_s"]),
                            str(np.asarray(k["binding"]).reshape(())),
                            _implementation(k["name"], family, t.attention),
                            _scalar(k["flops"]), _scalar(k["bytes"]))
                 for k in t.kernels)
    attention = t.attention.as_dict() if t.attention is not None else None
    saved = 0 if mode == "inference" else record.evaluate(
        n=n, batch=batch, dtype=dtype, optimizer=optimizer, **sizes)["activation_bytes"]
    return Prediction(hw.name, served, dtype, phases, rows, attention, t, saved)
