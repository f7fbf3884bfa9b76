"""Which implementation runs a record on a device, and what it costs beyond FLOPs and bytes.

One module per implementation (docs/design.md, "The time layer"): ``sdpa`` (PyTorch's
scaled-dot-product-attention dispatch). The records stay device-independent; an
implementation module decides, given the device, dtype and mode, which kernels run.
"""
