"""Convolutions and max pooling over a sequence axis: ``Conv1d``, ``Conv2d``, ``MaxPool2d``.

Layouts are PyTorch's: ``Conv1d`` reads ``(batch, in_channels, n)``; ``Conv2d`` and
``MaxPool2d`` read ``(batch, channels, input_height, n)``, where the last axis is the sequence
(time frames of a spectrogram) and ``input_height`` (frequency bins) is a costmodel-only
keyword. A record's ``out_len`` is the output length along ``n``; the output height comes
from :func:`conv2d_out_size` / :func:`maxpool2d_out_size` (pure functions, same arguments).

Counting, checked against ``FlopCounterMode`` and ``saved_tensors_hooks`` in tests/test_conv.py:
a convolution is ``2 * batch * out_spatial * out_channels * (in_channels / groups) * kernel``
FLOPs; its backward is grad_input (the same count, only when the input requires grad) plus
grad_weight (the forward count again). ``FlopCounterMode`` counts a grouped grad_weight
``groups`` times (its ``convolution_backward`` formula ignores groups); we count the work the
kernel does, and the record's notes say so. Autograd saves the convolution's input (a padded copy when PyTorch pads explicitly: odd
'same' padding, or a padding_mode other than 'zeros'); max pooling saves its input and int64
indices of its output's shape, and nothing when its input does not require grad.
"""

from __future__ import annotations

import math

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import check_bool, check_choice, check_size, is_known
from costmodel.compose import with_input_grad
from costmodel.cost import Cost, Kernel

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS = ("same", "valid")


# ----- shapes -----------------------------------------------------------------------------
def _tuple(name: str, value, dims: int, minimum: int = 1) -> tuple:
    """An int/symbol or a ``dims``-tuple of them, checked; PyTorch's ``_pair``."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims:
        raise ValueError(f"{name}={value!r} must be one value or {dims} values")
    return tuple(check_size(name, v, minimum=minimum) for v in values)


def _out(size, kernel, stride, pad_total, dilation, ceil_mode=False) -> sp.Expr:
    """PyTorch's output size: floor((size + pad - dilation*(kernel-1) - 1) / stride) + 1.

    With ``ceil_mode`` (pooling) the division rounds up, but a last window that would start
    in the right padding is dropped, as ``pooling_output_shape`` does.
    """
    span = sp.sympify(size) + pad_total - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return sp.floor(span / stride) + 1
    out = sp.ceiling(span / stride) + 1
    left_pad = sp.sympify(pad_total) / 2
    return sp.Piecewise((out - 1, (out - 1) * stride >= size + left_pad), (out, True))


def _pads(padding, kernel, stride, dilation, dims) -> tuple:
    """Per-dimension (total padding, is 'same'), with PyTorch's rules for the strings."""
    if isinstance(padding, str):
        check_choice("padding", padding, PADDING_STRINGS)
        if padding == "valid":
            return (0,) * dims, False
        if any(s != 1 for s in stride):
            raise ValueError(f"padding='same' is not supported for strided convolutions "
                             f"(stride={stride}); use stride=1 or an explicit padding")
        return tuple(d * (k - 1) for k, d in zip(kernel, dilation)), True
    return tuple(2 * p for p in _tuple("padding", padding, dims, minimum=0)), False


def conv_out_size(size, kernel_size, stride=1, padding=0, dilation=1) -> sp.Expr:
    """Output length of a convolution along one axis (``padding`` an int, 'same' or 'valid')."""
    kernel = _tuple("kernel_size", kernel_size, 1)
    dilation = _tuple("dilation", dilation, 1)
    stride = _tuple("stride", stride, 1)
    (pad,), _ = _pads(padding, kernel, stride, dilation, 1)
    return _out(size, kernel[0], stride[0], pad, dilation[0])


def conv2d_out_size(input_height, width=S.n, kernel_size=1, stride=1, padding=0,
                    dilation=1) -> tuple[sp.Expr, sp.Expr]:
    """``(out_height, out_width)`` of ``Conv2d`` on an ``input_height x width`` input."""
    kernel = _tuple("kernel_size", kernel_size, 2)
    stride, dilation = _tuple("stride", stride, 2), _tuple("dilation", dilation, 2)
    pads, _ = _pads(padding, kernel, stride, dilation, 2)
    sizes = (check_size("input_height", input_height), width)
    return tuple(_out(*a) for a in zip(sizes, kernel, stride, pads, dilation))


def maxpool2d_out_size(input_height, width=S.n, kernel_size=2, stride=None, padding=0,
                       dilation=1, ceil_mode=False) -> tuple[sp.Expr, sp.Expr]:
    """``(out_height, out_width)`` of ``MaxPool2d``; ``stride`` defaults to ``kernel_size``."""
    kernel = _tuple("kernel_size", kernel_size, 2)
    stride = kernel if stride is None else _tuple("stride", stride, 2)
    pads = tuple(2 * p for p in _tuple("padding", padding, 2, minimum=0))
    sizes = (check_size("input_height", input_height), width)
    return tuple(_out(sz, k, s, p, d, ceil_mode) for sz, k, s, p, d in
                 zip(sizes, kernel, stride, pads, _tuple("dilation", dilation, 2)))


def _check_fits(name: str, size, out) -> None:
    if is_known(size) and sp.sympify(out).is_number and out < 1:
        raise ValueError(f"{name}={size} is too small for this kernel: output size {out}")


# ----- convolution ------------------------------------------------------------------------
def _saved_spatial(sizes, pads, same, padding_mode) -> tuple:
    """Spatial sizes of the tensor the convolution itself reads (and autograd saves).

    padding_mode 'zeros': the input, unless 'same' needs an odd total padding on some axis;
    then PyTorch pads one extra element there with an explicit copy. Other modes: PyTorch
    always pads explicitly (``F.pad``) and convolves the padded copy with padding 0.
    """
    if padding_mode != "zeros":
        return tuple(sz + p for sz, p in zip(sizes, pads))
    if same:
        return tuple(sz + sp.Mod(p, 2) for sz, p in zip(sizes, pads))
    return tuple(sizes)


def _checked(in_channels, out_channels, kernel, stride, padding, dilation, groups, bias,
             padding_mode, sizes, input_requires_grad) -> dict:
    """The arguments checked by PyTorch's rules and normalised to per-axis tuples."""
    dims = len(sizes)
    in_channels = check_size("in_channels", in_channels)
    out_channels = check_size("out_channels", out_channels)
    groups = check_size("groups", groups)
    for arg, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if is_known(value) and is_known(groups) and value % groups:
            raise ValueError(f"{arg}={value} must be divisible by groups={groups}")
    check_bool("bias", bias)
    check_bool("input_requires_grad", input_requires_grad)
    check_choice("padding_mode", padding_mode, PADDING_MODES)
    kernel = _tuple("kernel_size", kernel, dims)
    stride, dilation = _tuple("stride", stride, dims), _tuple("dilation", dilation, dims)
    pads, same = _pads(padding, kernel, stride, dilation, dims)
    out_sizes = tuple(_out(*a) for a in zip(sizes, kernel, stride, pads, dilation))
    for size, out in zip(sizes, out_sizes):
        _check_fits("input size", size, out)
    widest_side = (pads[0] + 1) // 2 if is_known(pads[0]) else 0  # 'same' pads right more
    if padding_mode == "reflect" and is_known(sizes[0]) and widest_side >= sizes[0]:
        raise ValueError(f"padding={padding} must be smaller than input_height={sizes[0]} "
                         f"with padding_mode='reflect'")
    return dict(in_channels=in_channels, out_channels=out_channels, groups=groups,
                kernel=kernel, pads=pads, same=same, out_sizes=out_sizes)


def _conv_kernels(fwd, grad_w, conv_bytes, pad_bytes, rows, cols, out_channels):
    """Forward and weight-gradient launches; implicit-GEMM shapes (m, n, k) for the roofline."""
    kernels = (Kernel("conv", "conv", "forward", fwd, conv_bytes,
                      shape=(rows, out_channels, cols)),
               Kernel("conv.grad_weight", "conv", "backward", grad_w, conv_bytes,
                      shape=(out_channels, cols, rows)))
    if pad_bytes != 0:
        kernels = (Kernel("conv.pad", "elementwise", "forward", 0, pad_bytes),) + kernels
    return kernels


def _conv(name, in_channels, out_channels, kernel, stride, padding, dilation, groups, bias,
          padding_mode, sizes, input_requires_grad) -> Cost:
    a = _checked(in_channels, out_channels, kernel, stride, padding, dilation, groups, bias,
                 padding_mode, sizes, input_requires_grad)
    c_in, c_out, groups = a["in_channels"], a["out_channels"], a["groups"]
    s, b = S.dtype_bytes, S.batch
    k_elems, out_spatial = math.prod(a["kernel"]), sp.Mul(*a["out_sizes"])
    in_elems = b * c_in * sp.Mul(*sizes)
    read_elems = b * c_in * sp.Mul(*_saved_spatial(sizes, a["pads"], a["same"], padding_mode))
    out_elems = b * c_out * out_spatial
    per_group = sp.sympify(c_in) / groups  # input channels each filter sees
    weights = c_out * per_group * k_elems + (c_out if bias else 0)
    rows, cols = b * out_spatial, per_group * k_elems
    # im2col per group: [b*out_spatial, (in/g)*k] @ [(in/g)*k, out/g] -> [b*out_spatial, out/g]
    fwd = C.FLOPS_PER_MAC * b * out_spatial * c_out * per_group * k_elems
    # grad_weight: x^T: [in, b*out_spatial*k] @ dy: [b*out_spatial, out] -> [in, out] per
    # group = the forward count (FlopCounterMode ignores groups here and reports groups x).
    grad_w = fwd
    # PyTorch pads a copy of the input first (even by 0 in a padding_mode other than zeros);
    # reflect/replicate then keep the unpadded input for their own backward if it needs grad.
    explicit = padding_mode != "zeros" or read_elems != in_elems
    pad_saves_input = explicit and padding_mode in ("reflect", "replicate")
    pad_bytes = (in_elems + read_elems) * s if explicit else 0
    conv_bytes = (read_elems + weights + out_elems) * s
    # grad_input: transposed conv of dy: [b, out, *out_sp] with W -> [b, in, *sizes], as fwd.
    kept = in_elems * s if pad_saves_input else 0
    grad_input = Cost(name=f"{name}.grad_input", matmul_flops_backward=fwd,
                      activation_bytes=kept, saved_input_bytes=kept,
                      kernels=(Kernel("conv.grad_input", "conv", "backward", fwd, conv_bytes,
                                      shape=(rows, cols, c_out)),))
    record = Cost(
        name=name,
        params=weights,
        matmul_flops=fwd,
        elementwise_flops=out_elems if bias else 0,
        matmul_flops_backward=grad_w,
        elementwise_flops_backward=out_elems if bias else 0,  # grad_bias: sum of dy
        bytes=conv_bytes + pad_bytes,
        activation_bytes=read_elems * s,
        saved_input_bytes=0 if explicit else in_elems * s,
        depth_forward=1,
        depth_backward=1,
        out_len=a["out_sizes"][-1],
        kernels=_conv_kernels(fwd, grad_w, conv_bytes, pad_bytes, rows, cols, c_out),
        notes=(f"groups={groups}: grad_weight FLOPs are the kernel's work (1 x forward); "
               f"FlopCounterMode reports {groups} x (it ignores groups)",)
        if groups != 1 else (),
        in_features=c_in * sp.Mul(*sizes[:-1]),
        out_features=c_out * sp.Mul(*a["out_sizes"][:-1]),
        input_grad_cost=grad_input,
    )
    return with_input_grad(record) if input_requires_grad else record


def _repr(cls, in_channels, out_channels, kernel, stride, padding, dilation, groups, bias,
          padding_mode, dims) -> str:
    """PyTorch's ``extra_repr`` for convolutions."""
    tup = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims  # noqa: E731
    text = f"{in_channels}, {out_channels}, kernel_size={tup(kernel)}, stride={tup(stride)}"
    if padding != (0,) * dims and padding != 0:
        text += f", padding={padding!r}" if isinstance(padding, str) else \
            f", padding={tup(padding)}"
    if tup(dilation) != (1,) * dims:
        text += f", dilation={tup(dilation)}"
    text += f", groups={groups}" if groups != 1 else ""
    text += ", bias=False" if not bias else ""
    text += f", padding_mode={padding_mode}" if padding_mode != "zeros" else ""
    return f"{cls}({text})"


def Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
           bias=True, padding_mode="zeros", device=None, dtype=None, *,
           input_requires_grad=False) -> Cost:
    """``torch.nn.Conv1d`` on ``(batch, in_channels, n)``; ``out_len`` is the output length.

    ``input_requires_grad`` (costmodel-only): whether the backward computes grad_input; False
    for a model's first layer (the training-step default), True inside a network.
    ``device`` and ``dtype`` are accepted for torch compatibility; ``evaluate(dtype=)`` sets
    the bytes per element.
    """
    args = (in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode)
    return _conv(_repr("Conv1d", *args, 1), *args, (S.n,), input_requires_grad)


def Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
           bias=True, padding_mode="zeros", device=None, dtype=None, *, input_height,
           input_requires_grad=False) -> Cost:
    """``torch.nn.Conv2d`` on ``(batch, in_channels, input_height, n)``: n is the sequence axis.

    ``input_height`` (required, costmodel-only) is the height of the input (frequency bins);
    the output height is ``conv2d_out_size(...)[0]``. ``input_requires_grad`` as in Conv1d.
    """
    args = (in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode)
    height = check_size("input_height", input_height)
    return _conv(_repr("Conv2d", *args, 2), *args, (height, S.n), input_requires_grad)


# ----- pooling ----------------------------------------------------------------------------
def _pool_kernel(kernel_size, padding) -> tuple:
    """The window, checked: padding at most half of it, PyTorch's rule for max pooling."""
    kernel = _tuple("kernel_size", kernel_size, 2)
    for p, k in zip(_tuple("padding", padding, 2, minimum=0), kernel):
        if is_known(p) and is_known(k) and p > k // 2:
            raise ValueError(f"padding={padding} must be at most half of kernel_size="
                             f"{kernel_size} (PyTorch's rule for max pooling)")
    return kernel


def MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
              ceil_mode=False, *, channels, input_height, input_requires_grad=False) -> Cost:
    """``torch.nn.MaxPool2d`` on ``(batch, channels, input_height, n)``.

    Forward: ``MAXPOOL_COMPARE_FLOPS`` per window element per output. When the input requires
    grad (``input_requires_grad``, costmodel-only; True inside a network) autograd saves the
    input and int64 indices of the output's shape, and the backward adds each output gradient
    into the input position its index names. With an input that needs no grad, PyTorch saves
    nothing and runs no backward.
    """
    for flag, value in (("return_indices", return_indices), ("ceil_mode", ceil_mode),
                        ("input_requires_grad", input_requires_grad)):
        check_bool(flag, value)
    channels, height = check_size("channels", channels), check_size("input_height", input_height)
    kernel = _pool_kernel(kernel_size, padding)
    out_h, out_w = maxpool2d_out_size(height, S.n, kernel_size, stride, padding, dilation,
                                      ceil_mode)
    _check_fits("input_height", height, out_h)
    s, b = S.dtype_bytes, S.batch
    in_elems, out_elems = b * channels * height * S.n, b * channels * out_h * out_w
    fwd = out_elems * math.prod(kernel) * C.MAXPOOL_COMPARE_FLOPS
    index_bytes = out_elems * C.INDEX_BYTES
    fwd_bytes = (in_elems + out_elems) * s + (index_bytes if return_indices else 0)
    # with an input that needs grad: the forward also writes the indices (if not returned
    # anyway), autograd saves them and the input, and the backward scatters each gradient
    written = 0 if return_indices else index_bytes
    bwd = out_elems * C.MAXPOOL_BACKWARD_FLOPS
    grad_input = Cost(
        name="maxpool.grad_input", elementwise_flops_backward=bwd, bytes=written,
        activation_bytes=in_elems * s + index_bytes, saved_input_bytes=in_elems * s,
        kernels=(Kernel("maxpool", "reduction", "forward", 0, written),
                 Kernel("maxpool.grad_input", "gather", "backward", bwd,
                        (in_elems + out_elems) * s + index_bytes)))
    stride_shown = kernel_size if stride is None else stride
    record = Cost(
        name=f"MaxPool2d(kernel_size={kernel_size}, stride={stride_shown}, padding={padding}, "
             f"dilation={dilation}, ceil_mode={ceil_mode})",
        elementwise_flops=fwd,
        bytes=fwd_bytes,
        out_len=out_w,
        kernels=(Kernel("maxpool", "reduction", "forward", fwd, fwd_bytes),),
        in_features=channels * height,
        out_features=channels * out_h,
        input_grad_cost=grad_input,
    )
    return with_input_grad(record) if input_requires_grad else record
