"""PyTorch's scaled-dot-product-attention dispatch: which kernel ``nn.MultiheadAttention`` and
``nn.TransformerEncoderLayer`` really run for a device, dtype, mode, dropout, mask and head dim.

Every rule below cites the PyTorch source it encodes (read from pytorch/pytorch main, 2026):

* ``torch/nn/modules/activation.py`` ``MultiheadAttention.forward``: the inference fast path
  (``torch._native_multi_head_attention``) needs eval mode, grad disabled (or no parameter
  requiring grad), ``batch_first``, an even ``num_heads``, self-attention, packed in-projection,
  no ``bias_k``/``add_zero_attn``. ``torch/nn/modules/transformer.py``
  ``TransformerEncoderLayer.forward`` the same for the whole layer
  (``torch._transformer_encoder_layer_fwd``), and relu/gelu, equal norm eps, bias=True.
* ``torch/nn/functional.py`` ``multi_head_attention_forward``: ``need_weights=True`` (the
  module's default) runs ``bmm`` + ``softmax`` (math); otherwise SDPA, with ``dropout_p = 0``
  when not training; a causal mask with no key-padding mask becomes ``is_causal=True`` with no
  ``attn_mask``.
* ``aten/src/ATen/native/transformers/attention.cpp`` ``native_multi_head_attention_cpu``:
  the CPU fast path is always the math kernels (``bmm_nt``, ``masked_softmax``, ``bmm_nn``).
  ``cuda/attention.cu`` ``native_multi_head_attention_cuda``: SDPA when self-attention,
  ``!need_weights`` and no mask select flash, memory-efficient or cuDNN; else math.
* ``sdp_utils_cpp.cpp`` ``select_sdp_backend_cpp``: CPU order flash, math; flash needs
  ``check_for_dropout`` (dropout 0) and equal head dims (``check_head_dim_size_cpp``).
* ``cuda/sdp_utils.cpp`` ``select_sdp_backend``: order from ``priority_order`` (Context.h
  default flash, memory-efficient, math, cuDNN; ``check_prefer_cudnn_attention`` puts cuDNN
  first on sm90/sm100/sm103 with cuDNN > 9.15). ``can_use_flash_attention``: fp16/bf16
  (``check_dtypes_flash_attention``), sm80..sm121, head_dim <= 256, no attn_mask
  (``check_for_attn_mask``), no training with head_dim in (192, 224] (or (224, 256] with
  dropout) on sm86..sm89
  (``check_requires_grad_and_head_dim_gt192_constraints_on_sm86_89_or_120``).
  ``can_use_mem_efficient_attention``: sm50..sm121, fp32/fp16 (+bf16 from sm80), head_dim a
  multiple of ``minimum_gemm_alignment``. ``can_use_cudnn_attention``: fp16/bf16, sm80..sm121,
  head_dim <= 128 and a multiple of 8 (``check_cudnn_tensor_shapes``; newer cuDNN allows 256
  on sm90, not modelled). Any dropout: the 1/16-resolution rule (``check_cudnn_dropout``) is
  not what PyTorch 2.11 + cuDNN 9.19 does. Measured on a named H200 (session 6,
  validation/results/gpu-h200-s6/run1): ``nn.TransformerEncoderLayer`` in train() with its
  default dropout 0.1, fp16 and bf16, n 512-4096, ran ``ScaledDotProductCudnnAttention``
  forward and backward (``cudnn_generated_fort_native_sdpa_sm90_flash_*``), and in inference
  the fast path's SDPA ran the same cuDNN kernel; fp32 ran ``fmha_cutlassF`` (memory-
  efficient) in both modes, as this module says.

What the cost records model: ``math`` is :mod:`costmodel.models.attention`'s ``"math"`` record
(scores in memory); flash, memory-efficient and cuDNN all keep O(n) statistics and recompute
the scores in backward, so they map onto the fused ``"flash"`` record (memory-efficient and
cuDNN keep an RNG seed, not a dropout mask, like flash). AMD GPUs (ROCm's AOTriton) follow the
CUDA sm80 rules without cuDNN. A decoder layer is costed with its self-attention's kernel for
both attentions (in inference with batch_first its cross-attention, never on the fast path,
may run a fused kernel where the self-attention runs math).
"""

from __future__ import annotations

from dataclasses import dataclass

KERNELS = ("flash", "memory-efficient", "cudnn", "math")
#: The attention= record of costmodel.models.attention that models each kernel's cost.
RECORD_OF = {"flash": "flash", "memory-efficient": "flash", "cudnn": "flash", "math": "math"}
MODES = ("inference", "training")
MASKS = ("none", "causal", "padding")
MODULES = ("encoder_layer", "decoder_layer", "mha")
#: (major, minor) compute capability of each NVIDIA architecture of the catalogue (GA10x parts
#: of "ampere" are sm86: only the head_dim > 192 training rule differs, see module docstring).
SM_OF_ARCHITECTURE = {"maxwell": (5, 2), "pascal": (6, 0), "volta": (7, 0),
                      "turing": (7, 5), "ampere": (8, 0), "ada": (8, 9), "hopper": (9, 0),
                      "blackwell": (10, 0)}
ROCM_ARCHITECTURES = ("cdna1", "cdna2", "cdna3", "gcn5")
LOW_PRECISION = ("fp16", "bf16")
FLASH_MAX_HEAD_DIM = 256  # check_head_dim_size_flash
CUDNN_MAX_HEAD_DIM = 128  # check_cudnn_tensor_shapes (head_dim_limit)
CUDNN_HEAD_DIM_MULTIPLE = 8  # check_cudnn_tensor_shapes: "head_dim should be a multiple of 8"
#: check_requires_grad_and_head_dim_gt192_...: training head dims flash refuses on sm86..sm89
SM86_HEAD_DIM_LIMIT, SM86_NO_DROPOUT_ABOVE = 192, 224
BITS_PER_TENSOR_CORE_ACCESS = 128  # minimum_gemm_alignment: 128 / bits per scalar
HALF_BITS, SINGLE_BITS = 16, 32
#: Compute capabilities the rules name: mem-efficient from sm50, tensor cores for fp16 from
#: sm70 and for every dtype (plus flash, cuDNN, bf16) from sm80; cuDNN first on sm90/sm10x.
SM50, SM70, SM80, SM86, SM89 = (5, 0), (7, 0), (8, 0), (8, 6), (8, 9)
CUDNN_FIRST_MAJORS, CUDNN_FIRST_MINORS = (9, 10), (0, 3)
#: minimum_gemm_alignment's base: 4 elements from sm80, else 1
ALIGNMENT_SM80, ALIGNMENT_OLDER = 4, 1


@dataclass(frozen=True)
class Target:
    """Where the module runs: ``kind`` "cpu", "cuda" or "rocm"; ``sm`` for CUDA."""

    kind: str
    sm: tuple[int, int] = (0, 0)
    name: str = ""

    @property
    def prefers_cudnn(self) -> bool:
        """check_prefer_cudnn_attention: sm90, sm100, sm103 (cuDNN > 9.15 builds)."""
        return (self.kind == "cuda" and self.sm[0] in CUDNN_FIRST_MAJORS
                and self.sm[1] in CUDNN_FIRST_MINORS)


CPU = Target("cpu", name="cpu")


def target_of(hw) -> Target:
    """The dispatch target of a :class:`~costmodel.hardware.Hardware` (or ``"cpu"``)."""
    if hw is None or hw == "cpu":
        return CPU
    arch = getattr(hw, "architecture", "")
    if arch in SM_OF_ARCHITECTURE:
        return Target("cuda", SM_OF_ARCHITECTURE[arch], hw.name)
    if arch in ROCM_ARCHITECTURES:
        return Target("rocm", SM80, hw.name)
    if arch == "cpu" or "cpu" in hw.name.lower():
        return Target("cpu", name=hw.name)
    return Target("cuda", SM_OF_ARCHITECTURE["ampere"], hw.name)  # a GPU file with no arch


@dataclass(frozen=True)
class Dispatch:
    """What PyTorch runs: ``kernel`` (one of KERNELS), ``record`` (the attention= record that
    models it), ``path`` (how the module gets there) and ``rule`` (the PyTorch source)."""

    kernel: str
    record: str
    path: str
    rule: str
    target: str = ""
    dtype: str = ""
    mode: str = ""

    def label(self) -> str:
        """``"memory-efficient (SDPA auto on A100 SXM4 80GB, fp32, training)"``."""
        how = "explicit choice" if self.path == "explicit" else "SDPA auto"
        where = ", ".join(x for x in (self.target, self.dtype, self.mode) if x)
        return f"{self.kernel} ({how}{' on ' + where if where else ''})"

    def as_dict(self) -> dict:
        return {"kernel": self.kernel, "record": self.record, "path": self.path,
                "rule": self.rule, "label": self.label()}


def _cpu_sdpa(dropout: float, path: str) -> tuple[str, str, str]:
    if dropout > 0:
        return "math", path, "sdp_utils_cpp.cpp check_for_dropout: CPU flash needs dropout 0"
    return "flash", path, "sdp_utils_cpp.cpp select_sdp_backend_cpp: CPU flash first"


def _alignment(t: Target, dtype: str) -> int:
    """minimum_gemm_alignment (cuda/sdp_utils.cpp): elements head_dim must be a multiple of."""
    half = dtype in LOW_PRECISION
    bits = HALF_BITS if half else SINGLE_BITS
    tensor_cores = t.sm >= SM80 or (t.sm >= SM70 and half)
    base = ALIGNMENT_SM80 if t.sm >= SM80 else ALIGNMENT_OLDER
    return max(base, BITS_PER_TENSOR_CORE_ACCESS // bits) if tensor_cores else base


def _can_flash(t, dtype, head_dim, mask, training, dropout) -> bool:
    if dtype not in LOW_PRECISION or t.sm < SM80 or mask == "padding":
        return False
    if head_dim is None:
        return True
    if head_dim > FLASH_MAX_HEAD_DIM:
        return False
    if training and SM86 <= t.sm <= SM89 and head_dim > SM86_HEAD_DIM_LIMIT:
        return head_dim > SM86_NO_DROPOUT_ABOVE and dropout == 0
    return True


def _can_efficient(t, dtype, head_dim) -> bool:
    allowed = ("fp32", "fp16", "bf16") if t.sm >= SM80 else ("fp32", "fp16")
    if dtype not in allowed or t.sm < SM50:
        return False
    return head_dim is None or head_dim % _alignment(t, dtype) == 0


def _can_cudnn(t, dtype, head_dim) -> bool:
    if t.kind != "cuda" or dtype not in LOW_PRECISION or t.sm < SM80:
        return False
    return head_dim is None or (head_dim <= CUDNN_MAX_HEAD_DIM
                                and head_dim % CUDNN_HEAD_DIM_MULTIPLE == 0)


def _gpu_sdpa(t: Target, dtype, head_dim, mask, training, dropout, path):
    """select_sdp_backend (cuda/sdp_utils.cpp) in priority_order."""
    order = ("cudnn", "flash", "memory-efficient") if t.prefers_cudnn else (
        "flash", "memory-efficient")  # Context.h default: flash, efficient, math, cudnn
    checks = {"cudnn": lambda: _can_cudnn(t, dtype, head_dim),
              "flash": lambda: _can_flash(t, dtype, head_dim, mask, training, dropout),
              "memory-efficient": lambda: _can_efficient(t, dtype, head_dim)}
    for kernel in order:
        if checks[kernel]():
            return kernel, path, (f"cuda/sdp_utils.cpp select_sdp_backend: "
                                  f"can_use_{kernel.replace('-', '_')} first that passes")
    return "math", path, "cuda/sdp_utils.cpp select_sdp_backend: no fused kernel passes"


def _fast_path(mode, batch_first, num_heads, self_attention, bias) -> bool:
    """MultiheadAttention.forward / TransformerEncoderLayer.forward fast-path conditions
    (eval, grad disabled: inference mode; batch_first; even heads; self-attention; biases).
    A TransformerDecoderLayer has no fast path of its own, but its self_attn module takes
    MultiheadAttention's (measured: tests/test_sdpa.py)."""
    even = num_heads is None or num_heads % 2 == 0
    return mode == "inference" and batch_first and even and self_attention and bias


def dispatch(target: Target, dtype: str = "fp32", mode: str = "training", *,
             dropout: float = 0.0, mask: str = "none", head_dim: int | None = None,
             num_heads: int | None = None, need_weights: bool = False,
             batch_first: bool = False, module: str = "encoder_layer",
             self_attention: bool = True, bias: bool = True) -> Dispatch:
    """The kernel PyTorch runs (see the module docstring for each rule's source).

    ``head_dim``/``num_heads`` None (symbolic): assumed to pass the alignment rules.
    """
    for name, value, allowed in (("mode", mode, MODES), ("mask", mask, MASKS),
                                 ("module", module, MODULES)):
        if value not in allowed:
            raise ValueError(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    training = mode == "training"
    dropout = dropout if training else 0.0  # multi_head_attention_forward: eval -> 0
    if _fast_path(mode, batch_first, num_heads, self_attention, bias):
        path = ("fast path (torch._transformer_encoder_layer_fwd)" if module == "encoder_layer"
                else "fast path (torch._native_multi_head_attention)")
        if target.kind == "cpu":
            kernel, rule = "math", "attention.cpp native_multi_head_attention_cpu: bmm, softmax"
        elif need_weights or mask != "none":
            kernel, rule = "math", ("attention.cu native_multi_head_attention_cuda: SDPA only "
                                    "without need_weights and mask")
        else:
            kernel, _, rule = _gpu_sdpa(target, dtype, head_dim, "none", False, 0.0, path)
    elif need_weights:
        kernel, path = "math", "bmm (need_weights=True)"
        rule = "functional.py multi_head_attention_forward: need_weights takes bmm + softmax"
    elif target.kind == "cpu":
        kernel, path, rule = _cpu_sdpa(dropout, "scaled_dot_product_attention")
    else:
        kernel, path, rule = _gpu_sdpa(target, dtype, head_dim, mask, training, dropout,
                                       "scaled_dot_product_attention")
    return Dispatch(kernel, RECORD_OF[kernel], path, rule, target.name, dtype, mode)


def explicit(kernel: str, target: Target, dtype: str, mode: str) -> Dispatch:
    """A kernel the caller chose (attention="math" or "flash")."""
    return Dispatch(kernel, RECORD_OF[kernel], "explicit", f"attention={kernel!r}",
                    target.name, dtype, mode)


def resolve(record, hw, dtype: str = "fp32", mode: str = "training"):
    """``(record, Dispatch)``: a ``MultiheadAttention`` or Transformer layer/stack record
    rebuilt as PyTorch runs it on ``hw`` (a Hardware, or "cpu") in ``mode``: the attention
    kernel ("auto" resolved here, at predict time, because records are device-independent)
    and, for inference (``eval()``), dropout 0. Other records come back unchanged with None."""
    import dataclasses

    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of: {', '.join(MODES)}")
    cfg, rebuild = getattr(record, "config", None), getattr(record, "rebuild", None)
    if cfg is None or rebuild is None:
        return record, None
    target, module = target_of(hw), hasattr(cfg, "need_weights")  # MultiheadAttention
    requested = (cfg.requested or cfg.attention) if module else cfg.attention
    if requested == "auto":
        choice = dispatch(target, dtype, mode, **(module_arguments(cfg) if module
                                                   else layer_arguments(cfg)))
    else:
        choice = explicit(requested, target, dtype, mode)
    kernel = {"attention" if module else "kernel": choice.record}
    new = dataclasses.replace(cfg, **kernel, dropout=cfg.dropout if mode == "training" else 0.0)
    return (record if new == cfg else rebuild(new)), choice


def _head_dim(width, heads):
    """width / heads as an int where known (sweeps: d/(d/64) = 64), else None."""
    import sympy as sp

    ratio = sp.sympify(width) / heads
    return int(ratio) if ratio.is_Integer else None


def layer_arguments(cfg) -> dict:
    return dict(dropout=cfg.dropout, head_dim=_head_dim(cfg.d_model, cfg.nhead),
                mask="causal" if cfg.causal else "none", batch_first=cfg.batch_first,
                num_heads=cfg.nhead if isinstance(cfg.nhead, int) else None,
                module=f"{cfg.kind}_layer", bias=cfg.bias)


def module_arguments(cfg) -> dict:
    """nn.MultiheadAttention: the fast path also needs self-attention with one packed
    in-projection and no bias_k/bias_v or add_zero_attn (MultiheadAttention.forward)."""
    plain = cfg.source == "self" and cfg.packed and not (cfg.add_bias_kv or cfg.add_zero_attn)
    return dict(dropout=cfg.dropout, head_dim=_head_dim(cfg.embed_dim, cfg.num_heads),
                mask="causal" if cfg.causal else "none", batch_first=cfg.batch_first,
                num_heads=cfg.num_heads if isinstance(cfg.num_heads, int) else None,
                need_weights=cfg.need_weights, module="mha", self_attention=plain,
                bias=cfg.bias)
