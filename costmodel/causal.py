"""Causal attention: how many query-key pairs a kernel computes.

Three answers for a causal self-attention over n tokens (per batch and head):

* ``dense_pairs``: n^2. The math kernel (and ``FlopCounterMode``, which ignores ``is_causal``)
  computes every score, then adds the -inf mask.
* ``causal_pairs``: n(n+1)/2, the pairs the mask keeps (FlashAttention-2's FLOP convention;
  ``costmodel.MultiheadAttention(..., attention="flash", causal=True)`` counts these, and with a
  KV cache ``n*(n_ctx - n) + n*(n+1)/2``).
* ``tiled_causal_pairs``: what a tiled flash kernel computes. It works on
  ``block_m x block_n`` tiles of the score matrix and skips a tile only when the mask hides all
  of it: query block m runs key blocks 0 .. ceil((m+1)*block_m / block_n) - 1 (FlashAttention-2's
  ``n_block_max`` for seqlen_q == seqlen_k), so the diagonal tiles are computed whole. For
  ``block_n`` dividing n and square tiles ``B``: n(n+B)/2.

The tile sizes are the kernel's: PyTorch's flash forward for head dim 64 without dropout runs
128 x 128 tiles (``aten/src/ATen/native/transformers/cuda/flash_attn/flash_fwd_launch_template.h``,
``run_mha_fwd_hdim64``, pytorch/pytorch at 04ff5be); other head dims use other tiles there.
"""

from __future__ import annotations

from costmodel.checks import check_size

#: PyTorch's flash forward tiles for head dim 64, no dropout (module docstring's source).
FLASH_HDIM64_TILE = (128, 128)


def dense_pairs(n: int) -> int:
    n = check_size("n", n)
    return n * n


def causal_pairs(n: int) -> int:
    n = check_size("n", n)
    return n * (n + 1) // 2  # query i sees keys 0..i: 1 + 2 + ... + n


def tiled_causal_pairs(n: int, block_m: int, block_n: int) -> int:
    """Pairs in the tiles a flash kernel with ``block_m x block_n`` tiles computes (module
    docstring); pairs past the sequence's end in the last tiles are not counted."""
    n = check_size("n", n)
    block_m, block_n = check_size("block_m", block_m), check_size("block_n", block_n)
    total = 0
    for start in range(0, n, block_m):
        rows = min(block_m, n - start)
        key_blocks = -(-(start + block_m) // block_n)  # ceil((m+1)*block_m / block_n)
        total += rows * min(n, key_blocks * block_n)
    return total
