"""The launches of a recurrent layer stack on its critical path, and its depth.

What :mod:`costmodel.models.recurrent` lists as a record's ``kernels``: the hoisted input
projection, one GEMM and one pointwise cell per step (forward and backward), the weight and
input gradients, under the two schedules (``wavefront``: layers overlap diagonally;
``layer``: one layer after another).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import sympy as sp

from costmodel import symbols as S
from costmodel.cost import Kernel
from costmodel.models.primitives import mm_flops

if TYPE_CHECKING:
    from costmodel.models.recurrent import _Config


def _projection_kernels(cfg: _Config, layer: int) -> tuple[Kernel, ...]:
    """A layer's hoisted input projection (forward) and its weight-gradient GEMM (backward,
    cuDNN does dW_ih and dW_hh of all steps as one GEMM over [x_t, h_{t-1}]); under
    CUDNN_SKIP_INPUT layer 0 has no projection and its weight gradient is dW_hh only."""
    B, N, s = S.batch, S.n, S.dtype_bytes
    GH, P, D = cfg.cell.gates * cfg.hidden, cfg.out, cfg.directions
    I = cfg.layer_input(layer) if cfg.projects_input(layer) else 0
    # x: [B*N, I] @ W_ih^T: [I, GH] -> [B*N, GH]
    proj = Kernel(f"layer{layer}.input_projection", "rnn_gemm", "forward",
                  mm_flops(B * N, I, GH), (B * N * (I + GH) + GH * I) * s,
                  concurrent=D, shape=(B * N, GH, I))
    # dgates^T: [GH, B*N] @ [x, h]: [B*N, I + P] -> [GH, I + P]
    grads = Kernel(f"layer{layer}.weight_gradients", "rnn_gemm", "backward",
                   mm_flops(GH, B * N, I + P), (GH * (I + P) + B * N * (GH + I + P)) * s,
                   concurrent=D, shape=(GH, I + P, B * N))
    return (proj, grads) if cfg.projects_input(layer) else (grads,)


def grad_input_kernel(cfg: _Config, layer: int) -> Kernel:
    """A layer's input gradient after its steps, the directions side by side:
    dgates: [B*n, GH] @ W_ih: [GH, I] -> [B*n, I] (summed over directions)."""
    B, N, s = S.batch, S.n, S.dtype_bytes
    GH, I = cfg.cell.gates * cfg.hidden, cfg.layer_input(layer)
    return Kernel(f"layer{layer}.grad_input", "rnn_gemm", "backward", mm_flops(B * N, GH, I),
                  (B * N * (GH + I) + GH * I) * s, concurrent=cfg.directions,
                  shape=(B * N, I, GH))


def _step_kernels(cfg: _Config, width, count, concurrent) -> tuple[Kernel, ...]:
    """One step's GEMM h: [B, width] @ W^T: [width, GH] (width = P, or I + P when a wavefront
    step also does a deeper layer's input GEMM), its pointwise cell, and their backward."""
    B, s = S.batch, S.dtype_bytes
    GH, k = cfg.cell.gates * cfg.hidden, cfg.gemms_per_step
    weights = GH * width * s  # re-read every step: L2-resident when it fits
    moved = weights + (B * width + B * GH) * s
    common = dict(count=count, concurrent=concurrent, resident_bytes=weights)
    return (
        Kernel("step_gemm", "rnn_gemm", "forward", mm_flops(B, width, GH) * k, moved,
               shape=(B, GH, width), **common),
        Kernel("step_pointwise", "elementwise", "forward",
               B * cfg.cell.forward(cfg.hidden, cfg.act, cfg.nonlinearity),
               3 * B * GH * s, count=count, concurrent=concurrent),  # read 2 GEMM outs, write
        # dgates: [B, GH] @ W: [GH, width] -> [B, width]
        Kernel("step_gemm_backward", "rnn_gemm", "backward", mm_flops(B, GH, width) * k, moved,
               shape=(B, width, GH), **common),
        Kernel("step_pointwise_backward", "elementwise", "backward",
               B * cfg.cell.backward(cfg.hidden, cfg.act_backward, cfg.nonlinearity),
               4 * B * GH * s, count=count, concurrent=concurrent),  # saved gates, dh in/out
    )


def kernels_of(cfg: _Config) -> tuple[Kernel, ...]:
    """The critical path as launches.

    Layer schedule: per layer, the input projection, then n steps (GEMM + pointwise), and in
    backward n steps, then the weight-gradient GEMM and (above layer 0) the input-gradient
    GEMM (layer 0's is its ``input_grad_cost``). Wavefront (unidirectional, L > 1): layer
    0's projection, then n + L - 1 diagonal steps, each running up to L cells side by side
    (a deeper layer's cell does its input GEMM inside the step: width I + P)."""
    L, D, N = cfg.num_layers, cfg.directions, S.n
    if cfg.schedule == "wavefront" and D == 1 and L > 1:
        *proj, grads = _projection_kernels(cfg, 0)
        diagonal = N + L - 1
        steps = _step_kernels(cfg, cfg.layer_input(1) + cfg.out, diagonal, L)
        return (*proj, *steps, dataclasses.replace(grads, concurrent=L))
    kernels: list[Kernel] = []
    for layer in range(L):
        *proj, grads = _projection_kernels(cfg, layer)
        kernels += [*proj, *_step_kernels(cfg, cfg.out, N, D), grads]
        kernels += [grad_input_kernel(cfg, layer)] if layer > 0 else []
    return tuple(kernels)


def depth_of(cfg: _Config) -> sp.Expr:
    steps = cfg.gemms_per_step
    if cfg.schedule == "wavefront" and cfg.directions == 1:
        return 1 + steps * (S.n + cfg.num_layers - 1)
    return cfg.num_layers * (1 + steps * S.n)
