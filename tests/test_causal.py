"""Causal pair counts: the mask's triangle, the dense product, the tiles a flash kernel runs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.causal import (FLASH_HDIM64_TILE, causal_pairs, dense_pairs,
                              tiled_causal_pairs)


def _tiles_with_a_kept_pair(n, block_m, block_n) -> int:
    """Brute force on torch's causal mask (tril): the pairs of every tile with a kept entry."""
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    total = 0
    for q in range(0, n, block_m):
        for k in range(0, n, block_n):
            tile = mask[q:q + block_m, k:k + block_n]
            total += tile.numel() if tile.any() else 0
    return total


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 70), block_m=st.integers(1, 20), block_n=st.integers(1, 20))
def test_tiled_pairs_are_the_tiles_the_mask_does_not_hide(n, block_m, block_n):
    tiled = tiled_causal_pairs(n, block_m, block_n)
    assert tiled == _tiles_with_a_kept_pair(n, block_m, block_n)
    assert causal_pairs(n) <= tiled <= dense_pairs(n)
    assert causal_pairs(n) == int(torch.ones(n, n).tril().sum())


def test_pytorch_flash_tiles_at_4096():
    # 32 query blocks of 128 rows; block m runs m + 1 key blocks of 128:
    # 128 * 128 * (1 + ... + 32) = 16384 * 528 = 8,650,752 = n(n + 128)/2
    n = 4096
    assert tiled_causal_pairs(n, *FLASH_HDIM64_TILE) == 8_650_752 == n * (n + 128) // 2
    assert causal_pairs(n) == 8_390_656  # 4096 * 4097 / 2: the tiles do 3.1 % more
    assert dense_pairs(n) == 16_777_216  # math attention: all of them


def test_edges():
    assert tiled_causal_pairs(10, 1, 1) == causal_pairs(10)  # 1x1 tiles skip exactly
    assert tiled_causal_pairs(10, 16, 16) == dense_pairs(10)  # one tile: nothing skipped
    with pytest.raises(ValueError, match="block_n"):
        tiled_causal_pairs(10, 4, 0)
