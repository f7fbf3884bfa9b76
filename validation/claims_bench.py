"""The benchmarks behind the seed documents' measured claims (issue 5), one per distinct
``measure`` of the claims ledger; ``costmodel measure-claims`` runs them and writes
``costmodel/data/claims/measurements.json``, which the claim evaluators read (costmodel itself
never imports torch).

Every time is the median of a few repeats (:func:`validation.timing.measure`: warm-up, rotated
random inputs, the timer's cost subtracted) on the device opened by ``open_device``; on a
machine without CUDA that is the CPU, and GPU claims are then checked on the CPU and set next
to costmodel's roofline prediction for the named GPU by the evaluators. "Peak" is this
machine's measured best large-matmul FLOP/s (fp32), not a datasheet figure. Sizes are the
documents' where a run takes seconds, else smaller and stated in ``SIZES`` and in each
benchmark's ``note``.
"""

from __future__ import annotations

from collections.abc import Callable

from . import require_torch
from .bench import FLOPS_PER_MAC, matmul
from .modules import Config, cost_record, heads, saved_storages, time_config
from .timing import Device, measure, random_inputs

#: The sizes of the full run (about 75 s on 2 CPU cores) and of ``--quick`` (seconds).
SIZES = {
    "full": {"peak": (1024, 2048), "gemm_batches": (1, 8, 32), "gemm_d": 768, "gemm_n": 512,
             "rnn_n": 128, "rnn_d": 512, "rnn_batch": 16, "lt_n": 512, "lt_d": 768,
             "lt_batch": 8, "ck_layers": 12, "ck_d": 256, "ck_n": 256, "ck_batch": 4,
             "lstm_ck": (256, 256, 16, 16), "crnn_frames": 1292, "crnn_batch": 8,
             "ast_n": 1212, "ast_d": 768, "ast_layers": 12, "mm": 1000},
    "quick": {"peak": (128,), "gemm_batches": (1, 4), "gemm_d": 64, "gemm_n": 32,
              "rnn_n": 8, "rnn_d": 16, "rnn_batch": 2, "lt_n": 16, "lt_d": 64, "lt_batch": 2,
              "ck_layers": 2, "ck_d": 32, "ck_n": 8, "ck_batch": 2, "lstm_ck": (16, 16, 2, 4),
              "crnn_frames": 64, "crnn_batch": 2, "ast_n": 32, "ast_d": 64, "ast_layers": 2,
              "mm": 64},
}
BUDGET_S = {"full": 1.5, "quick": 0.01}
CRNN_MELS = 128


def _t(fn, inputs, device: Device, budget_s: float, warmup: int = 1) -> float:
    return measure(fn, inputs, device, budget_s=budget_s, warmup=warmup).median_s


def _randn(device: Device, *shape, grad: bool = False):
    torch = require_torch()
    return lambda: torch.randn(*shape, device=device.torch_device, requires_grad=grad)


# ----- matmul peak and GEMM efficiency ------------------------------------------------------
def matmul_peak(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    runs = [matmul(device, "fp32", m, m, m, budget_s=budget) for m in s["peak"]]
    rates = {r["m"]: r["flops"] / r["time_s"] for r in runs}
    return {"config": {"sizes": list(s["peak"]), "dtype": "fp32"},
            "results": {"peak_flops_per_s": max(rates.values()),
                        "flops_per_s_by_size": {str(k): v for k, v in rates.items()}},
            "note": "peak = the best measured large square fp32 matmul FLOP/s of this machine; "
                    "a fused kernel (torch's CPU LSTM) can beat it, so a utilization may "
                    "exceed 100 %"}


def _bmm_rate(device: Device, b: int, m: int, k: int, n: int, budget: float) -> float:
    torch = require_torch()
    pairs = random_inputs(lambda: (_randn(device, b, m, k)(), _randn(device, b, k, n)()))
    t = _t(lambda ab: torch.bmm(ab[0], ab[1]), pairs, device, budget, warmup=2)
    return FLOPS_PER_MAC * b * m * n * k / t


def small_gemm(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    peak, d, n = ctx["peak"], s["gemm_d"], s["gemm_n"]
    out = {}
    for b in s["gemm_batches"]:  # h: [b, d] @ W^T: [d, 4d] -> [b, 4d], W resident (a step)
        r = matmul(device, "fp32", b, 4 * d, d, budget_s=budget, fixed_weights=True)
        out[f"step_gemm_batch_{b}"] = r["flops"] / r["time_s"] / peak
    r = matmul(device, "fp32", n, d, d, budget_s=budget)  # x: [n, d] @ W_q^T: [d, d]
    out["qkv_gemm"] = r["flops"] / r["time_s"] / peak
    h = heads(d)  # q: [h, n, 64] @ k^T: [h, 64, n] -> [h, n, n]; then @ v: [h, n, 64]
    out["attention_scores"] = _bmm_rate(device, h, n, d // h, n, budget) / peak
    out["attention_values"] = _bmm_rate(device, h, n, n, d // h, budget) / peak
    return {"config": {"d": d, "n": n, "batches": list(s["gemm_batches"]), "dtype": "fp32"},
            "results": {**out, "peak_flops_per_s": peak},
            "note": "achieved / peak FLOP/s, fp32 (this CPU has no fast fp16 GEMM); step "
                    "GEMMs keep W fixed as a recurrence does"}


# ----- recurrent vs Transformer steps -------------------------------------------------------
def gru_vs_lstm(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    n, d, b = s["rnn_n"], s["rnn_d"], s["rnn_batch"]
    t = {f: time_config(Config(f, n, d, b, "training"), device, budget).median_s
         for f in ("gru", "lstm")}
    return {"config": {"n": n, "d": d, "batch": b},
            "results": {"gru_training_s": t["gru"], "lstm_training_s": t["lstm"],
                        "speedup": t["lstm"] / t["gru"]},
            "note": "nn.GRU(d, d) vs nn.LSTM(d, d), forward + backward + Adam; speedup = "
                    "LSTM time / GRU time"}


def lstm_vs_transformer(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    n, d, b = s["lt_n"], s["lt_d"], s["lt_batch"]
    t = {(f, m): time_config(Config(f, n, d, b, m), device, budget).median_s
         for f in ("lstm", "transformer") for m in ("forward", "training")}
    res = {f"{f}_{m}_s": v for (f, m), v in t.items()}
    res["training_speedup"] = t["lstm", "training"] / t["transformer", "training"]
    res["forward_speedup"] = t["lstm", "forward"] / t["transformer", "forward"]
    for f in ("lstm", "transformer"):  # costmodel's FLOPs of forward + backward
        flops = cost_record(Config(f, n, d, b, "training")).evaluate(n=n, batch=b)
        res[f"{f}_training_flops"] = int(flops["flops_training"])
        res[f"{f}_utilization"] = flops["flops_training"] / t[f, "training"] / ctx["peak"]
    res["peak_flops_per_s"] = ctx["peak"]
    return {"config": {"n": n, "d": d, "batch": b, "nhead": heads(d), "dim_feedforward": 4 * d},
            "results": res,
            "note": f"nn.LSTM(d, d) vs nn.TransformerEncoderLayer(d, {heads(d)}, 4d), batch "
                    f"{b} (the document's 32 would take minutes); training = forward + backward "
                    "+ Adam; utilization = FLOPs of forward + backward / time / peak"}


# ----- gradient checkpointing ---------------------------------------------------------------
def _saved_bytes(module, run, x) -> int:
    """Bytes autograd keeps for backward: each storage once, parameters excluded; with
    checkpointing the inputs each checkpointed segment keeps are reported by ``run``."""
    with saved_storages(module) as seen:
        out, kept = run(x)
    for t in kept:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    del out
    return sum(seen.values())


def _train_fn(module, run):
    torch = require_torch()
    optimizer = torch.optim.Adam(module.parameters())

    def step(x):
        run(x)[0].sum().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def checkpoint_transformer(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    torch = require_torch()
    from torch.utils.checkpoint import checkpoint

    L, d, n, b = s["ck_layers"], s["ck_d"], s["ck_n"], s["ck_batch"]
    stack = torch.nn.ModuleList(torch.nn.TransformerEncoderLayer(d, heads(d), 4 * d)
                                for _ in range(L)).to(device.torch_device).train()

    def plain(x):
        for layer in stack:
            x = layer(x)
        return x, []

    def checkpointed(x):
        kept = []
        for layer in stack:
            kept.append(x)
            x = checkpoint(layer, x, use_reentrant=False)
        return x, kept
    xs = random_inputs(_randn(device, n, b, d))
    full = _saved_bytes(stack, plain, xs[0])
    kept = _saved_bytes(stack, checkpointed, xs[0])
    one = _saved_bytes(stack, lambda x: (stack[0](x), []), xs[0])
    t_plain = _t(_train_fn(stack, plain), xs, device, budget)
    t_ck = _t(_train_fn(stack, checkpointed), xs, device, budget)
    return {"config": {"layers": L, "d": d, "nhead": heads(d), "n": n, "batch": b},
            "results": {"saved_bytes": full, "checkpointed_saved_bytes": kept,
                        "one_layer_saved_bytes": one,
                        "memory_ratio_retained": full / kept,
                        "memory_ratio_peak": full / (kept + one),
                        "training_s": t_plain, "checkpointed_training_s": t_ck,
                        "slowdown": t_ck / t_plain - 1},
            "note": "torch.utils.checkpoint (non-reentrant) around each layer; retained = "
                    "bytes kept after forward; peak = retained + one layer recomputed in "
                    "backward; slowdown = checkpointed / plain training-step time - 1"}


def checkpoint_lstm(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    torch = require_torch()
    from torch.utils.checkpoint import checkpoint

    n, d, b, seg = s["lstm_ck"]
    lstm = torch.nn.LSTM(d, d).to(device.torch_device).train()
    zero = torch.zeros(1, b, d, device=device.torch_device)

    def segment(chunk, h, c):
        out, (h, c) = lstm(chunk, (h, c))
        return out, h, c

    def checkpointed(x):
        outs, h, c = [], zero, zero
        for chunk in x.split(seg):
            out, h, c = checkpoint(segment, chunk, h, c, use_reentrant=False)
            outs.append(out)
        return torch.cat(outs), []
    xs = random_inputs(_randn(device, n, b, d))
    t_plain = _t(_train_fn(lstm, lambda x: (lstm(x)[0], [])), xs, device, budget)
    t_ck = _t(_train_fn(lstm, checkpointed), xs, device, budget)
    return {"config": {"n": n, "d": d, "batch": b, "segment_steps": seg},
            "results": {"training_s": t_plain, "checkpointed_training_s": t_ck,
                        "slowdown_ratio": t_ck / t_plain},
            "note": f"nn.LSTM(d, d) whole vs in checkpointed segments of {seg} steps carrying "
                    "(h, c); ratio = checkpointed / plain training-step time"}


# ----- CRNN (seed 000) vs the AST encoder ----------------------------------------------------
def crnn_module(torch):
    """Seed 000's CRNN with costmodel.CRNN's defaults (tests/test_crnn.py's reference)."""
    nn = torch.nn

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c_in = [], 1
            for c_out in (32, 64, 128):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
                c_in = c_out
            self.cnn = nn.Sequential(*layers)
            self.gru = nn.GRU(c_in, 256, num_layers=2, bidirectional=True, batch_first=True)
            self.fc = nn.Linear(512, 2)

        def forward(self, x):  # x: (batch, 1, mels, frames)
            x = self.cnn(x).mean(dim=2).transpose(1, 2)  # (batch, frames/8, 128)
            return self.fc(self.gru(x)[0].mean(dim=1))
    return CRNN()


def _fwd_bwd(module, device: Device, make, budget: float) -> tuple[float, float]:
    """(forward with autograd on, forward + backward) median seconds."""
    xs = random_inputs(make)

    def both(x):
        out = module(x)
        (out[0] if isinstance(out, tuple) else out).sum().backward()
        module.zero_grad(set_to_none=True)
    return _t(lambda x: module(x), xs, device, budget), _t(both, xs, device, budget)


def crnn_vs_ast(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    torch = require_torch()
    b, frames, L, n = s["crnn_batch"], s["crnn_frames"], s["ast_layers"], s["ast_n"]
    crnn = crnn_module(torch).to(device.torch_device).train()
    cf, cfb = _fwd_bwd(crnn, device, _randn(device, b, 1, CRNN_MELS, frames), budget)
    d = s["ast_d"]  # DeiT-base: 768 wide, 64-wide heads, d_ff 4d (the ledger's AST)
    layer = torch.nn.TransformerEncoderLayer(d, heads(d), 4 * d, activation="gelu",
                                             norm_first=True, batch_first=True)
    layer = layer.to(device.torch_device).train()
    af, afb = _fwd_bwd(layer, device, _randn(device, 1, n, d, grad=True), budget)
    flops = cost_record(Config("transformer", n, d, 1, "training")).evaluate(n=n, batch=1)
    res = {"crnn_forward_s": cf / b, "crnn_backward_s": (cfb - cf) / b,
           "crnn_training_s": cfb / b, "ast_forward_s": L * af,
           "ast_backward_s": L * (afb - af), "ast_training_s": L * afb,
           "ast_over_crnn_speedup": (cfb / b) / (L * afb),
           "ast_utilization": flops["flops_training"] / afb / ctx["peak"],
           "peak_flops_per_s": ctx["peak"]}
    return {"config": {"crnn_batch": b, "mels": CRNN_MELS, "frames": frames, "ast_n": n,
                       "ast_d": d, "ast_layers": L},
            "results": res,
            "note": f"per sample; CRNN at batch {b} (the document's 32 needs GBs and minutes); "
                    f"AST = {L} x one measured pre-norm GELU encoder layer at batch 1, input "
                    "requiring grad as inside the stack (patch embedding and head, under 1 % "
                    "of the FLOPs, omitted); backward = (forward + backward) - forward"}


def crnn_gru_directions(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    """The CRNN's bidirectional GRU as torch runs it (directions one after the other on the
    CPU) vs one direction's chain (GRU(128, 256) then GRU(512, 256)): the time with the two
    directions fully concurrent."""
    torch = require_torch()
    b, steps = s["crnn_batch"], s["crnn_frames"] // 8  # three 2x poolings
    dev = device.torch_device
    bi = torch.nn.GRU(128, 256, num_layers=2, bidirectional=True, batch_first=True).to(dev)
    first, second = (torch.nn.GRU(i, 256, batch_first=True).to(dev) for i in (128, 512))
    _, t_bi = _fwd_bwd(bi, device, _randn(device, b, steps, 128), budget)
    _, t1 = _fwd_bwd(first, device, _randn(device, b, steps, 128), budget)
    _, t2 = _fwd_bwd(second, device, _randn(device, b, steps, 512, grad=True), budget)
    return {"config": {"batch": b, "steps": steps},
            "results": {"bigru_training_s": t_bi / b, "one_direction_training_s": (t1 + t2) / b},
            "note": "per sample, forward + backward; concurrent directions = one direction's "
                    "two layers (an ideal overlap, measured)"}


def matmul_gpu_vs_cpu(device: Device, s: dict, budget: float, ctx: dict) -> dict:
    torch = require_torch()
    m = s["mm"]
    res = {"cpu_time_s": matmul(device, "fp32", m, m, m, budget_s=budget)["time_s"]
           if device.kind == "cpu" else None, "gpu_time_s": None, "gpu": "no GPU here"}
    if torch.cuda.is_available():
        from .timing import open_device
        gpu = open_device("cuda")
        res["gpu_time_s"], res["gpu"] = matmul(gpu, "fp32", m, m, m)["time_s"], gpu.name
        if res["cpu_time_s"] is None:
            res["cpu_time_s"] = matmul(open_device("cpu"), "fp32", m, m, m)["time_s"]
    res["speedup"] = res["cpu_time_s"] / res["gpu_time_s"] if res["gpu_time_s"] else None
    return {"config": {"m": m, "n": m, "k": m, "dtype": "fp32"}, "results": res,
            "note": "torch.mm of two m x m fp32 matrices; without CUDA only the CPU is measured"}


#: name -> benchmark(device, sizes, budget_s, context); ``matmul_peak`` runs first (context).
BENCHMARKS: dict[str, Callable] = {
    "matmul_peak": matmul_peak, "small_gemm": small_gemm, "gru_vs_lstm": gru_vs_lstm,
    "lstm_vs_transformer": lstm_vs_transformer,
    "checkpoint_transformer": checkpoint_transformer, "checkpoint_lstm": checkpoint_lstm,
    "crnn_vs_ast": crnn_vs_ast, "crnn_gru_directions": crnn_gru_directions,
    "matmul_gpu_vs_cpu": matmul_gpu_vs_cpu,
}


def run(names=None, quick: bool = False, device: Device | None = None,
        progress: Callable[[str], None] = lambda m: None) -> dict:
    """Run ``names`` (default: all) and return ``{name: entry}``; each entry carries its
    config, results, note, device, threads, torch version and date (UTC)."""
    import datetime
    import time

    from .timing import open_device

    torch = require_torch()
    device = device or open_device("auto")
    size = "quick" if quick else "full"
    wanted = list(BENCHMARKS) if not names else list(names)
    unknown = [n for n in wanted if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}: choose from {', '.join(BENCHMARKS)}")
    ctx, out = {}, {}
    for name in ["matmul_peak"] + [n for n in wanted if n != "matmul_peak"]:
        progress(f"{name} ...")
        start = time.perf_counter()
        entry = BENCHMARKS[name](device, SIZES[size], BUDGET_S[size], ctx)
        entry["wall_s"] = round(time.perf_counter() - start, 1)
        if name == "matmul_peak":
            ctx["peak"] = entry["results"]["peak_flops_per_s"]
        if name in wanted:
            out[name] = {**entry, "sizes": size, "device": device.name,
                         "device_kind": device.kind, "threads": device.threads,
                         "torch": torch.__version__,
                         "date": datetime.datetime.now(datetime.timezone.utc)
                         .strftime("%Y-%m-%dT%H:%M:%SZ")}
    return out
