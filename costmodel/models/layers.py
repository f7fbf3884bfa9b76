"""Building blocks mirroring ``torch.nn``: Linear, Embedding, LayerNorm, activations, Dropout.

Each constructor returns a :class:`~costmodel.cost.Cost` for an input of ``batch`` sequences of
``n`` tokens, ``tokens = batch * n`` rows of features. Modules whose torch signature has no
feature width (ReLU, GELU, Tanh, Dropout) take a costmodel-only keyword ``features`` (default:
the symbol ``features``).

Training defaults follow a normal step: every parameter requires grad; a module's input does
not (``input_requires_grad=False``: no grad-input matmul, as for the first layer of a model).
``Sequential`` adds the grad-input cost to a module behind a trainable one; pass
``input_requires_grad=True`` to build a standalone record that includes it.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import check_bool, check_choice, check_probability, check_size, is_known
from costmodel.cost import Cost, Kernel
from costmodel.models.primitives import linear_part, pointwise_part, tokens_of

FEATURES = S.size_symbol("features")
#: LayerNorm keeps a mean and a reciprocal standard deviation per normalised row.
LAYERNORM_STATS_PER_ROW = 2
#: LayerNorm weight gradient (g * x_hat summed over rows) and bias gradient (g summed over
#: rows): 1 FLOP per element each (conventions.LAYERNORM_BACKWARD_FLOPS counts 2 for both).
AFFINE_GRAD_FLOPS = 1
GELU_APPROXIMATIONS = ("none", "tanh")


def Linear(in_features, out_features, bias=True, device=None, dtype=None, *,
           input_requires_grad=False) -> Cost:
    """``torch.nn.Linear``: ``y = x W^T + b`` on every token (see ``primitives.linear_part``)."""
    in_features = check_size("in_features", in_features)
    out_features = check_size("out_features", out_features)
    check_bool("bias", bias)
    check_bool("input_requires_grad", input_requires_grad)
    name = f"Linear(in_features={in_features}, out_features={out_features}, bias={bias})"
    record = linear_part(name, tokens_of(), in_features, out_features, bias=bias,
                         input_grad=input_requires_grad)
    return dataclasses.replace(record, in_features=in_features, out_features=out_features)


def Embedding(num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False,
              device=None, dtype=None) -> Cost:
    """``torch.nn.Embedding``: a gather of ``embedding_dim`` values per token.

    0 matmul FLOPs (FlopCounterMode counts none). Backward scatter-adds each token's gradient
    row into the weight gradient (``tokens * embedding_dim`` adds). Autograd saves the int64
    indices (``conventions.INDEX_BYTES`` each). ``max_norm`` renormalisation is not modelled.
    """
    num_embeddings = check_size("num_embeddings", num_embeddings)
    embedding_dim = check_size("embedding_dim", embedding_dim)
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, int):
            raise ValueError(f"padding_idx={padding_idx!r} must be an int or None")
        if is_known(num_embeddings) and not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"padding_idx={padding_idx} must be within num_embeddings="
                             f"{num_embeddings} (from {-num_embeddings} to "
                             f"{num_embeddings - 1})")
    tokens = tokens_of()
    s = S.dtype_bytes
    rows = tokens * embedding_dim
    index_bytes = tokens * C.INDEX_BYTES
    fwd_bytes = index_bytes + 2 * rows * s  # read each gathered row, write it out
    name = f"Embedding({num_embeddings}, {embedding_dim})"
    return Cost(
        name=name,
        params=num_embeddings * embedding_dim,
        elementwise_flops_backward=rows,
        bytes=fwd_bytes,
        activation_bytes=index_bytes,
        saved_input_bytes=index_bytes,
        out_features=embedding_dim,
        kernels=(Kernel(name, "gather", "forward", 0, fwd_bytes),
                 Kernel(f"{name}.grad_weight", "gather", "backward", rows, fwd_bytes)),
    )


def LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None,
              dtype=None) -> Cost:
    """``torch.nn.LayerNorm`` over the last dimension(s) of every token.

    Saves its input plus a mean and a rstd per row; PyTorch keeps those two in the
    accumulation type (fp32, ``conventions.STATISTICS_BYTES``) whatever the input dtype.
    """
    shape = normalized_shape if isinstance(normalized_shape, (tuple, list)) \
        else (normalized_shape,)
    if not shape:
        raise ValueError("normalized_shape=() must name at least one dimension")
    width = sp.Mul(*[check_size("normalized_shape", d) for d in shape])
    check_bool("elementwise_affine", elementwise_affine)
    check_bool("bias", bias)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"eps={eps!r} must be a positive number")
    rows = tokens_of()
    elements = rows * width
    affine_vectors = (1 + int(bias)) if elementwise_affine else 0
    stats = rows * LAYERNORM_STATS_PER_ROW * C.STATISTICS_BYTES
    part = pointwise_part("LayerNorm", elements, C.LAYERNORM_FLOPS,
                          C.LAYERNORM_BACKWARD_FLOPS + affine_vectors * AFFINE_GRAD_FLOPS,
                          saves="input")
    shown = tuple(shape) if len(shape) > 1 else shape[0]
    name = f"LayerNorm({shown}, eps={eps}, elementwise_affine={elementwise_affine})"
    return Cost(**{**cost_fields(part), "name": name, "params": affine_vectors * width,
                   "activation_bytes": part.activation_bytes + stats,
                   "in_features": width, "out_features": width,
                   "kernels": (Kernel(name, "reduction", "forward", part.elementwise_flops,
                                      part.bytes),
                               Kernel(f"{name}.backward", "reduction", "backward",
                                      part.elementwise_flops_backward, 2 * part.bytes))})


def cost_fields(record: Cost) -> dict:
    """The fields of ``Cost`` (not of a subclass) as keywords, to rebuild a record."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(Cost)}


def with_backward_kernel(part: Cost) -> Cost:
    """A pointwise part plus its backward launch (reads the gradient and what was saved,
    writes the input gradient)."""
    grad_bytes = part.bytes + part.activation_bytes
    backward = Kernel(f"{part.name}.backward", part.kernels[0].kind, "backward",
                      part.elementwise_flops_backward, grad_bytes)
    return dataclasses.replace(part, kernels=part.kernels + (backward,))


def _activation(kind: str, name: str, features, saves: str, flops=None, backward=None) -> Cost:
    features = check_size("features", features)
    elements = tokens_of() * features
    part = pointwise_part(name, elements,
                          C.NONLINEARITY_FLOPS[kind] if flops is None else flops,
                          C.NONLINEARITY_BACKWARD_FLOPS[kind] if backward is None else backward,
                          saves=saves, kind="activation")
    return dataclasses.replace(with_backward_kernel(part), in_features=features,
                               out_features=features)


def ReLU(inplace=False, *, features=FEATURES) -> Cost:
    """``torch.nn.ReLU``: autograd saves the output (``threshold_backward`` reads it)."""
    check_bool("inplace", inplace)
    return _activation("relu", "ReLU()", features, saves="output")


def GELU(approximate="none", *, features=FEATURES) -> Cost:
    """``torch.nn.GELU``: autograd saves the input (both the erf and the tanh forms)."""
    check_choice("approximate", approximate, GELU_APPROXIMATIONS)
    name = "GELU()" if approximate == "none" else f"GELU(approximate={approximate!r})"
    return _activation("gelu", name, features, saves="input")


def Tanh(*, features=FEATURES) -> Cost:
    """``torch.nn.Tanh``: autograd saves the output (tanh' = 1 - y^2)."""
    return _activation("tanh", "Tanh()", features, saves="output")


def Dropout(p=0.5, inplace=False, *, features=FEATURES,
            mask_bytes=C.DROPOUT_MASK_BYTES_PER_ELEMENT) -> Cost:
    """``torch.nn.Dropout`` in training mode.

    For 0 < p < 1 autograd saves a mask: CUDA's fused ``native_dropout`` a bool per element
    (``mask_bytes=1``, the default); the CPU eager path multiplies by a noise tensor in the
    input's dtype and saves it (pass ``mask_bytes=costmodel.symbols.dtype_bytes``). p = 0
    returns the input itself (nothing saved, no work); p = 1 multiplies by a 0-dim zero
    (counted as nothing; torch saves that one scalar).
    """
    p = check_probability("p", p)
    check_bool("inplace", inplace)
    features = check_size("features", features)
    mask_bytes = sp.sympify(mask_bytes)
    if mask_bytes.is_number and not mask_bytes > 0:
        raise ValueError(f"mask_bytes={mask_bytes} must be a positive number of bytes")
    elements = tokens_of() * features
    name = f"Dropout(p={p})"
    if p in (0.0, 1.0):
        return Cost(name=name, notes=(f"p={p}: no mask is kept",), in_features=features,
                    out_features=features)
    part = pointwise_part(name, elements, C.DROPOUT_FLOPS, C.DROPOUT_FLOPS, saves="none",
                          kind="dropout")
    return with_backward_kernel(
        dataclasses.replace(part, activation_bytes=elements * mask_bytes,
                            in_features=features, out_features=features))


def dropout_or_none(p, features, mask_bytes, name: str) -> tuple[Cost, ...]:
    """A named training-mode dropout, or nothing when it is the identity (p = 0)."""
    if check_probability("dropout", p) == 0:
        return ()
    return (named(Dropout(p, features=features, mask_bytes=mask_bytes), name),)


def activation_part(activation: str, features, name: str) -> Cost:
    """The FFN nonlinearity by PyTorch's name ("relu" or "gelu")."""
    if activation == "relu":
        return named(ReLU(features=features), name)
    if activation == "gelu":
        return named(GELU(features=features), name)
    raise ValueError(f"activation={activation!r} is not one of: relu, gelu (a callable is "
                     f"not accepted: its cost is unknown)")


def named(record: Cost, name: str) -> Cost:
    """``record`` renamed; its kernels named after it (so two out_proj stay apart)."""
    def rename(kernel_name: str) -> str:
        if kernel_name.startswith(record.name):  # a leaf's own kernels: "linear1.grad_input"
            return name + kernel_name[len(record.name):]
        return f"{name}.{kernel_name}"

    def renamed(r: Cost) -> Cost:  # the input-gradient kernels too, so they stay apart
        kernels = tuple(dataclasses.replace(k, name=rename(k.name)) for k in r.kernels)
        extra = r.input_grad_cost
        return dataclasses.replace(r, name=rename(r.name), kernels=kernels,
                                   input_grad_cost=None if extra is None else renamed(extra))
    return renamed(record)
