"""S4 (S4D) and Mamba against small PyTorch reference modules written here.

FlopCounterMode counts matrix products and convolutions only: not the FFTs, not the
Vandermonde sum, not the scan (all elementwise in our convention and in these references).
So params, matmul FLOPs (what it counts) and the bytes autograd saves are checked exactly;
the elementwise FLOPs by golden numbers with their arithmetic. Mamba's saved bytes are
checked for implementation="autograd" (the Python loop); "fused" is a model of the CUDA
kernel.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import assert_three_routes_agree, matmul_flops, num_params, saved_bytes
from torch import nn

import costmodel as cm
from costmodel import symbols as S


# ----- reference modules ------------------------------------------------------------------
class MambaRef(nn.Module):
    """mamba_simple.Mamba's PyTorch path, with the selective scan as a Python loop."""

    def __init__(self, D, N, K, expand, R, conv_bias, bias):
        super().__init__()
        E = expand * D
        self.R, self.N = R, N
        self.in_proj = nn.Linear(D, 2 * E, bias=bias)
        self.conv1d = nn.Conv1d(E, E, K, groups=E, padding=K - 1, bias=conv_bias)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.rand(E, N))
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, D, bias=bias)

    def forward(self, u):  # u: (b, n, D)
        b, n, _ = u.shape
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :n]).transpose(1, 2)
        dt, B, C = self.x_proj(x).split([self.R, self.N, self.N], dim=-1)
        dt = F.softplus(self.dt_proj(dt))
        A = -torch.exp(self.A_log)
        h, ys = u.new_zeros(b, x.shape[-1], self.N), []
        for t in range(n):  # elementwise: FlopCounterMode counts none of it
            h = torch.exp(dt[:, t, :, None] * A) * h \
                + (dt[:, t] * x[:, t])[:, :, None] * B[:, t, None, :]
            ys.append((h * C[:, t, None, :]).sum(-1))
        y = torch.stack(ys, 1) + x * self.D
        return self.out_proj(y * F.silu(z))


class S4DRef(nn.Module):
    """s4d.py's S4D (no dropout, batch-first), in convolution or recurrent mode."""

    def __init__(self, H, N, mode):
        super().__init__()
        self.mode = mode
        self.C = nn.Parameter(torch.randn(H, N // 2, 2))
        self.log_dt = nn.Parameter(torch.rand(H) * -4)
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N // 2)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N // 2).float().repeat(H, 1))
        self.D = nn.Parameter(torch.randn(H))
        self.output_linear = nn.Linear(H, 2 * H)

    def forward(self, u):  # u: (b, n, H)
        L = u.shape[1]
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dtA = A * torch.exp(self.log_dt)[:, None]
        C = torch.view_as_complex(self.C) * (torch.exp(dtA) - 1.0) / A
        if self.mode == "convolution":
            k = 2 * (C[..., None] * torch.exp(dtA[..., None] * torch.arange(L))).sum(1).real
            u_f = torch.fft.rfft(u.transpose(1, 2), n=2 * L)
            y = torch.fft.irfft(u_f * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
            y = y.transpose(1, 2)
        else:
            h, ys, dA = torch.zeros(u.shape[0], *C.shape, dtype=C.dtype), [], torch.exp(dtA)
            for t in range(L):
                h = dA * h + u[:, t, :, None]
                ys.append(2 * (C * h).sum(-1).real)
            y = torch.stack(ys, 1)
        y = F.gelu(y + u * self.D)
        return F.glu(self.output_linear(y), dim=-1)


# ----- Mamba ------------------------------------------------------------------------------
mamba_configs = st.fixed_dictionaries({
    "D": st.integers(1, 6), "N": st.integers(1, 4), "K": st.integers(1, 4),
    "expand": st.integers(1, 2), "R": st.integers(1, 3), "conv_bias": st.booleans(),
    "bias": st.booleans(), "n": st.integers(1, 6), "b": st.integers(1, 3),
})


@settings(max_examples=20, deadline=None)
@given(c=mamba_configs)
def test_mamba_params_and_matmul_flops_match_torch(c):
    """params, matmul FLOPs, and (implementation="autograd", the Python loop's graph) the
    bytes autograd saves, exactly."""
    rec = cm.Mamba(c["D"], c["N"], c["K"], c["expand"], c["R"], c["conv_bias"], c["bias"],
                   implementation="autograd")
    got = rec.evaluate(n=c["n"], batch=c["b"])
    torch.manual_seed(0)
    ref = MambaRef(c["D"], c["N"], c["K"], c["expand"], c["R"], c["conv_bias"], c["bias"])
    u = torch.randn(c["b"], c["n"], c["D"])
    fwd, bwd = matmul_flops(ref, u)
    assert got["params"] == num_params(ref)
    assert got["activation_bytes"] == saved_bytes(ref, u)
    assert got["matmul_flops"] == fwd
    # FlopCounterMode counts the depthwise conv's grad_weight E times (it ignores groups):
    # the counter is ours plus (E - 1) x the conv's forward, 2*b*(n+K-1)*E*K
    E = c["expand"] * c["D"]
    conv_fwd = 2 * c["b"] * (c["n"] + c["K"] - 1) * E * c["K"]
    assert got["matmul_flops_backward"] + (E - 1) * conv_fwd == bwd


def test_mamba_golden():
    """D=4, N=2, K=3, expand=2 (E=8), R=1, bias=False, conv_bias=True; n=5, b=2 (t=10).

    params: in_proj 4*16 = 64, conv 8*3 + 8 = 32, x_proj 8*(1+4) = 40, dt_proj 1*8 + 8 = 16,
    A_log 8*2 = 16, D 8, out_proj 8*4 = 32: 208.
    matmul forward: in_proj 2*10*4*16 = 1280, conv 2*2*(5+2)*8*3 = 672, x_proj 2*10*8*5 = 800,
    dt_proj 2*10*1*8 = 160, out_proj 2*10*8*4 = 640: 3552.
    backward: in_proj dW 1280 (the input needs no grad), conv dX + dW 2*672 = 1344, x_proj,
    dt_proj, out_proj dX + dW 2*(800 + 160 + 640) = 3200: 5824.
    scan forward: 7 per state (b*n*E*N = 160) + 1 per channel (80) = 1200.
    """
    rec = cm.Mamba(4, 2, 3, 2, dt_rank=1)
    got = rec.evaluate(n=5, batch=2)
    assert got["params"] == 64 + 32 + 40 + 16 + 16 + 8 + 32 == 208
    assert got["matmul_flops"] == 1280 + 672 + 800 + 160 + 640 == 3552
    assert got["matmul_flops_backward"] == 1280 + 1344 + 3200 == 5824
    scan = next(p for p in rec.parts if p.name == "selective_scan")
    assert scan.evaluate(n=5, batch=2)["elementwise_flops"] == 7 * 160 + 80 == 1200


def test_mamba_published_size():
    """mamba-130m: 24 blocks of d_model 768 (d_state 16, d_conv 4, expand 2, dt_rank 48),
    an embedding of 50280 x 768 tied to the output, 25 RMSNorms of 768: the paper's
    "130M". Per block: in_proj 768*3072 = 2,359,296, conv 1536*4 + 1536 = 7,680,
    x_proj 1536*80 = 122,880, dt_proj 48*1536 + 1536 = 75,264, A_log 1536*16 = 24,576,
    D 1,536, out_proj 1536*768 = 1,179,648: 3,770,880; the block's RMSNorm 768.
    24 * (3,770,880 + 768) + 50280*768 + 768 = 90,519,552 + 38,615,040 + 768
    = 129,135,360 ~ 129M."""
    block = cm.Mamba(768).evaluate(n=1, batch=1)["params"]
    assert block == 2_359_296 + 7_680 + 122_880 + 75_264 + 24_576 + 1_536 + 1_179_648
    total = 24 * (block + 768) + 50280 * 768 + 768
    assert total == 129_135_360
    assert abs(total - 130e6) / 130e6 < 0.01  # the "mamba-130m" checkpoint name (Gu and Dao 2023)


def test_mamba_depth_sequential_vs_parallel():
    """Five GEMM-class steps (in_proj, conv, x_proj, dt_proj, out_proj) plus the scan:
    n steps one after another, or 2 * ceil(log2 n) levels of a work-efficient scan."""
    seq = cm.Mamba("d", scan="sequential")
    par = cm.Mamba("d", scan="parallel")
    assert seq.depth_forward == S.n + 5
    for n, levels in ((1, 0), (2, 1), (1000, 10), (1024, 10), (1025, 11)):
        assert par.evaluate(n=n, d=16)["depth_forward"] == 5 + 2 * levels
        assert seq.evaluate(n=n, d=16)["depth_backward"] == 5 + n
    # the parallel scan does the same work: only depth changes
    for q in ("params", "flops", "flops_backward", "activation_bytes"):
        assert sp.simplify(seq.get(q) - par.get(q)) == 0


def test_mamba_memory_and_state():
    """The fused kernel saves the scan's inputs, O(b n (E + N)); a PyTorch loop saves every
    state h_0..h_n and decay, (2n + 1) b E N, and dt_t x_t, b n E, more. Inference state:
    b E (d_conv + N), independent of n."""
    fused, loop = cm.Mamba("d", 16), cm.Mamba("d", 16, implementation="autograd")
    E, s, b, n = 2 * S.size_symbol("d"), S.dtype_bytes, S.batch, S.n
    assert sp.simplify(loop.activation_bytes - fused.activation_bytes
                       - ((2 * n + 1) * b * E * 16 + b * n * E) * s) == 0
    assert sp.simplify(fused.state_bytes - S.batch * E * (4 + 16) * s) == 0
    assert S.n not in fused.state_bytes.free_symbols
    kernels = {k.name: k for k in loop.kernels}
    assert kernels["selective_scan"].count == S.n  # one launch per step in a Python loop
    assert {k.name: k for k in fused.kernels}["selective_scan"].count == 1


# ----- S4 ---------------------------------------------------------------------------------
s4_configs = st.fixed_dictionaries({
    "H": st.integers(1, 6), "modes": st.integers(1, 3), "n": st.integers(1, 8),
    "b": st.integers(1, 3), "mode": st.sampled_from(["convolution", "recurrent"]),
    "input_grad": st.booleans(),
})


@settings(max_examples=20, deadline=None)
@given(c=s4_configs)
def test_s4_params_and_matmul_flops_match_torch(c):
    """Only output_linear is a matmul: FlopCounterMode sees no FFT, no Vandermonde sum
    (written elementwise here) and no recurrence. Saved bytes exact too."""
    N = 2 * c["modes"]
    rec = cm.S4(c["H"], N, mode=c["mode"], input_requires_grad=c["input_grad"])
    got = rec.evaluate(n=c["n"], batch=c["b"])
    torch.manual_seed(0)
    ref = S4DRef(c["H"], N, c["mode"])
    u = torch.randn(c["b"], c["n"], c["H"], requires_grad=c["input_grad"])
    fwd, bwd = matmul_flops(ref, u)
    assert got["params"] == num_params(ref)
    assert (got["matmul_flops"], got["matmul_flops_backward"]) == (fwd, bwd)
    assert got["activation_bytes"] == saved_bytes(ref, u)


def test_s4_reference_modes_agree():
    """The two references compute the same layer (so the two records describe one layer)."""
    torch.manual_seed(0)
    conv = S4DRef(3, 4, "convolution").double()
    rec = S4DRef(3, 4, "recurrent").double()
    rec.load_state_dict(conv.state_dict())
    u = torch.randn(2, 7, 3, dtype=torch.float64)
    assert torch.allclose(conv(u), rec(u), atol=1e-9)


def test_s4_golden():
    """H=2, N=4 (2 modes), n=8, b=1.

    params: C 2*4 = 8, log_dt 2, log_A_real 2*2 = 4, A_imag 4, D 2, Linear(2, 4) 8 + 4 = 12:
    32. matmul: output_linear 2*8*2*4 = 128 forward; dX + dW 256 backward.
    FFT convolution (length m = 16, ceil(log2 16) = 4, 5/2 * 16 * 4 = 160 per real FFT):
    rfft of u (b*H = 2) and of K (H = 2), irfft of y (2): 6 * 160 = 960, plus the spectral
    product b*H*(n+1) = 18 complex multiplies of 6: 108. Vandermonde: H*modes*n = 32 cells
    of 11: 352. Recurrent mode instead: b*n*H*modes = 32 cells of 14: 448.
    """
    conv = cm.S4(2, 4, mode="convolution")
    got = conv.evaluate(n=8, batch=1)
    assert got["params"] == 8 + 2 + 4 + 4 + 2 + 12 == 32
    assert (got["matmul_flops"], got["matmul_flops_backward"]) == (128, 256)
    parts = {p.name: p for p in conv.parts}
    core = {p.name: p for p in parts["convolution"].parts}
    assert core["fft_conv"].evaluate(n=8, batch=1)["elementwise_flops"] == 960 + 108
    assert core["kernel"].evaluate(n=8, batch=1)["elementwise_flops"] == 352
    recurrent = {p.name: p for p in cm.S4(2, 4, mode="recurrent").parts}["recurrence"]
    assert recurrent.evaluate(n=8, batch=1)["elementwise_flops"] == 448


def test_s4_depth_and_growth():
    """Convolution mode: Vandermonde (1), rfft (1), irfft (1), output_linear (1) = 4, and
    FLOPs O(n log n) per channel; recurrent mode: n steps + output_linear, FLOPs O(n N)."""
    conv, rec = cm.S4("h", 64), cm.S4("h", 64, mode="recurrent")
    assert conv.depth_forward == conv.depth_backward == 4
    assert rec.depth_forward == S.n + 1
    assert cm.S4("h", 64, mode="recurrent", scan="parallel").evaluate(
        n=1024, h=8)["depth_forward"] == 2 * 10 + 1
    assert "log" in str(conv.elementwise_flops) or "ceiling" in str(conv.elementwise_flops)
    assert sp.Poly(rec.elementwise_flops, S.n).degree() == 1
    assert rec.state_bytes == conv.state_bytes  # inference state: b * H * N reals


@pytest.mark.parametrize("make, sizes", [
    (lambda: cm.Mamba("d", "N", scan="sequential", implementation="autograd"),
     {"d": 6, "N": 4}),
    (lambda: cm.S4("h", "N"), {"h": 3, "N": 4}),
    (lambda: cm.S4("h", 8, mode="recurrent"), {"h": 3}),
])
def test_symbolic_equals_evaluate_equals_vectorize(make, sizes):
    assert_three_routes_agree(make(), sizes, n=7, batch=3)


@pytest.mark.parametrize("call, words", [
    (lambda: cm.Mamba(8, d_state=0), ("d_state=0", ">= 1")),
    (lambda: cm.S4(8, d_state=0), ("d_state=0", ">= 1")),
    (lambda: cm.S4(8, d_state=3), ("d_state=3", "even")),
    (lambda: cm.Mamba(8, scan="blocked"), ("scan", "sequential", "parallel")),
    (lambda: cm.S4(8, mode="fourier"), ("mode", "convolution", "recurrent")),
    (lambda: cm.Mamba(8, implementation="triton"), ("implementation", "fused")),
    (lambda: cm.Mamba(8, d_conv=-1), ("d_conv",)),
    (lambda: cm.Mamba(8, dt_rank=0), ("dt_rank",)),
])
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(ValueError) as err:
        call()
    assert all(w in str(err.value) for w in words)
