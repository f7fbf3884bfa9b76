"""Counting conventions, stated once. Every other module takes its constants from here.

FLOPs
    One multiply-add (MAC) is 2 FLOPs (:data:`FLOPS_PER_MAC`), as in PyTorch's
    ``torch.utils.flop_counter`` and nanoGPT; fvcore counts 1 per MAC (divide ours by 2).
    ``matmul_flops`` count only matrix products (GEMM, batched GEMM, convolution): exactly what
    ``FlopCounterMode`` counts. Bias additions inside ``addmm`` are not matmul FLOPs; they are
    counted, with every other pointwise operation, in ``elementwise_flops``.
Nonlinearities
    An activation function costs a fixed number of FLOPs per element, a named default below
    that every constructor lets you override (``sigmoid_flops=``, ...). These are
    conventions, not measurements: a transcendental is a few FLOPs on a GPU special-function
    unit and tens on a CPU vector unit.
Memory
    Bytes are ``elements * dtype_bytes``; ``dtype_bytes`` is the symbol ``s`` until evaluated.
    MB in output means 10**6 bytes, MiB 2**20.
"""

from __future__ import annotations

from types import MappingProxyType

import sympy as sp

#: One multiply-add = 2 FLOPs (a multiply and an add), PyTorch's convention.
FLOPS_PER_MAC = 2

#: FLOPs per element of each nonlinearity (forward). Defaults; override per constructor.
#: sigmoid: exp, add, divide and negate = 4; tanh: about as costly as sigmoid, counted 4;
#: relu: one compare/select = 1; gelu (erf form): erf plus 4 multiplies/adds, counted 8.
NONLINEARITY_FLOPS = MappingProxyType(
    {"sigmoid": 4, "tanh": 4, "relu": 1, "gelu": 8, "identity": 0}
)

#: FLOPs per element of the backward of each nonlinearity, from its saved output y or input x:
#: sigmoid' = y*(1-y) then times the incoming gradient = 3; tanh' = 1-y^2 then times = 3;
#: relu' = a select = 1; gelu' (erf form) counted 10.
NONLINEARITY_BACKWARD_FLOPS = MappingProxyType(
    {"sigmoid": 3, "tanh": 3, "relu": 1, "gelu": 10, "identity": 0}
)

#: LayerNorm forward FLOPs per element: mean (1 add), subtract mean (1), square (1),
#: variance sum (1), normalise (1 multiply by rstd), affine scale and shift (2) = 7.
LAYERNORM_FLOPS = 7
#: LayerNorm backward FLOPs per element: two reductions and the normalised-gradient formula,
#: counted 9 (plus 2 per element for the weight and bias gradients when affine).
LAYERNORM_BACKWARD_FLOPS = 9

#: Softmax FLOPs per element: max (1), subtract (1), exp (1 counted as 1 here, as in most
#: attention FLOP counts), sum (1), divide (1) = 5.
SOFTMAX_FLOPS = 5
#: Softmax backward per element: y * (g - sum(g * y)): multiply, sum, subtract, multiply = 4.
SOFTMAX_BACKWARD_FLOPS = 4

#: Bytes per element of each dtype name accepted by ``evaluate(dtype=...)``.
DTYPE_BYTES = MappingProxyType(
    {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
)

#: Optimizer state tensors per parameter (same dtype as the weights).
#: SGD keeps none; SGD with momentum one momentum buffer; Adam/AdamW the first and second moments.
OPTIMIZER_STATES = MappingProxyType({"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2})

#: Recurrent gate counts: one weight block per gate in W_ih and W_hh (PyTorch layout).
GATES = MappingProxyType({"rnn": 1, "gru": 3, "lstm": 4})

#: Bias conventions for recurrent cells: PyTorch (and cuDNN) keep two bias vectors per gate
#: (b_ih and b_hh); the textbook cell and Keras' LSTM keep one; Keras' GRU with
#: reset_after=True keeps two. ``bias_vectors`` is a parameter of every recurrent constructor.
DEFAULT_BIAS_VECTORS = 2

#: Dropout in training: multiply by the kept-mask and by 1/(1-p) = 2 FLOPs per element
#: forward, the same 2 backward; the mask is saved as one bool (1 byte) per element.
DROPOUT_FLOPS = 2
DROPOUT_MASK_BYTES_PER_ELEMENT = 1

#: Max pooling forward: PyTorch's kernels start each window at -inf and compare every window
#: element against the running max: 1 FLOP per window element per output.
MAXPOOL_COMPARE_FLOPS = 1
#: Max pooling backward: each output gradient is added into the input position its saved
#: index names (a scatter-add): 1 FLOP per output element.
MAXPOOL_BACKWARD_FLOPS = 1
#: Bytes per saved integer index (max pooling's argmax indices are int64 whatever ``s`` is).
INDEX_BYTES = 8

#: Bytes per saved row statistic: LayerNorm's mean and rstd and flash attention's logsumexp
#: are kept in the accumulation type, fp32, whatever the input dtype (PyTorch CUDA eager;
#: CPU keeps them in the input dtype for bf16, and fp32 for fp32 inputs).
STATISTICS_BYTES = 4

#: Optimizer update, per parameter (one fused kernel, memory bound): it reads the parameter
#: and its gradient, reads and writes each state tensor, writes the parameter:
#: (3 + 2 * states) elements moved. FLOPs per parameter: SGD p -= lr*g = 2; momentum adds
#: m = mu*m + g (2) = 4; Adam: two moment updates (3 + 4), bias corrections folded into the
#: step size, sqrt, add eps, divide, scale, subtract (5) = 12; AdamW's decoupled decay +1.
OPTIMIZER_UPDATE_FLOPS = MappingProxyType({"sgd": 2, "momentum": 4, "adam": 12, "adamw": 13})
OPTIMIZER_BASE_TENSORS_MOVED = 3  # read parameter, read gradient, write parameter

# ----- pointwise operations of the linear-time and hybrid families (ssm, linear attention,
# ----- conformer); forward/backward FLOPs per element, derivations beside each.
#: SiLU (swish) x * sigmoid(x): sigmoid (4) and a multiply (1) = 5. Backward: PyTorch's
#: silu_backward recomputes sigmoid from the saved input (4), then g * s * (1 + x * (1 - s)):
#: 1 - s, x * (.), 1 + (.), s * (.), times g = 5; 9 in all.
SILU_FLOPS = 5
SILU_BACKWARD_FLOPS = 9
#: Softplus log(1 + exp(x)): exp, add, log = 3. Backward g * sigmoid(x): sigmoid (4) and a
#: multiply (1) = 5.
SOFTPLUS_FLOPS = 3
SOFTPLUS_BACKWARD_FLOPS = 5
#: GLU a * sigmoid(b), per output element: sigmoid (4) and a multiply (1) = 5. Backward:
#: sigmoid recomputed (4), da = g * s (1), db = g * a * s * (1 - s): 1 - s and 3 multiplies
#: (4); 9 in all.
GLU_FLOPS = 5
GLU_BACKWARD_FLOPS = 9
#: BatchNorm in training does LayerNorm's arithmetic per element (mean, subtract, square,
#: variance, normalise, scale, shift), reducing over (batch, n) per channel instead of over
#: the features of a row; its backward likewise (affine gradients included).
BATCHNORM_FLOPS = LAYERNORM_FLOPS
BATCHNORM_BACKWARD_FLOPS = LAYERNORM_BACKWARD_FLOPS + 2
#: Complex arithmetic in real FLOPs: (a+bi)(c+di) is 4 multiplies and 2 adds = 6; an add 2.
COMPLEX_MUL_FLOPS = 6
COMPLEX_ADD_FLOPS = 2
#: FFTs are not matmul FLOPs (FlopCounterMode counts none): they go to ``elementwise_flops``
#: with kernels of kind "fft". A radix-2 complex FFT of length m does m/2 * log2(m)
#: butterflies of one complex multiply and two complex adds (6 + 2*2 = 10 FLOPs):
#: 5 m log2(m). A real-input FFT (rfft) or its inverse (irfft) of length m costs half that,
#: 5/2 m log2(m); log2(m) is rounded up so counts stay integers (exact for powers of two).
REAL_FFT_FLOPS_PER_POINT_LOG2 = sp.Rational(5, 2)
