"""Timing whole modules over rounds for calibration: the module configurations of a plan, and
whole recurrent steps (each recurrent module at two sequence lengths). Every figure kept is the
median of its rounds (:func:`.timing.typical`); rounds run in alternating order, so a slow
drift of the machine spreads over all configurations."""

from __future__ import annotations

import itertools
import random

from .modules import MODES, Config, cost_record, recurrent_step, time_config
from .timing import Device, typical

SHUFFLE_SEED = 0  # module timings run in a fixed shuffled order: families interleaved
QUIET_WAIT_S = 5.0  # wait at most this long for other processes before timing a module
FAMILIES_FITTED = ("rnn", "lstm", "gru", "transformer")
RECURRENT = ("rnn", "lstm", "gru")  # families with whole-step benchmarks


def module_configs(plan: dict, dtype: str = "fp32", modes=MODES) -> list[Config]:
    """Every family x module size of the plan x mode (``modes``: of .modules.Config), in a
    fixed shuffled order."""
    configs = [Config(family, n, d, batch, mode, dtype) for family in FAMILIES_FITTED
               for (n, d, batch) in plan["modules"] for mode in modes]
    random.Random(SHUFFLE_SEED).shuffle(configs)
    return configs


def measure_modules(device: Device, configs, hw, eff, plan, progress) -> list[dict]:
    """Time each module configuration, ``plan["rounds"]`` times in alternating order (a slow
    drift of the machine spreads over all configurations), keeping the median of the round
    medians (see :func:`.timing.typical`); skip those the roofline says exceed the budget."""
    from costmodel.roofline import predict

    kept = []
    for cfg in configs:
        t = predict(cost_record(cfg), hw, eff=eff, dtype=cfg.dtype, n=cfg.n, batch=cfg.batch)
        guess = float(t.training_s if cfg.mode == "training" else t.forward_s)
        if guess > plan["max_config_s"]:
            progress(f"{cfg.key}: skipped (about {guess:.2g} s a call)")
        else:
            kept.append(cfg)
    rounds: dict[str, list] = {}
    quiet = QUIET_WAIT_S if plan["rounds"] > 1 else 0.0
    for round_ in range(plan["rounds"]):
        order = kept if round_ % 2 == 0 else kept[::-1]
        for i, cfg in enumerate(order, 1):
            m = time_config(cfg, device, budget_s=plan["module_budget_s"], quiet_s=quiet)
            rounds.setdefault(cfg.key, []).append(m.median_s)
            progress(f"[round {round_ + 1}, {i}/{len(order)}] {cfg.key}: "
                     f"{m.median_s * 1e3:.3g} ms")
    return [{**cfg.as_dict(), "bench": "module", "measured_s": typical(rounds[cfg.key]),
             "round_medians_s": rounds[cfg.key]} for cfg in kept]


def step_lengths(hidden: int) -> tuple[int, int]:
    """The two sequence lengths a whole step is timed at: 4 and 4 + extra steps, the extra
    fewer for wide layers (a 1536-wide step takes milliseconds)."""
    extra = 64 if hidden <= 192 else 32 if hidden <= 384 else 16 if hidden <= 768 else 8
    return 4, 4 + extra


def measure_steps(device: Device, plan: dict, hw, eff, progress, modes=MODES) -> list[dict]:
    """Whole recurrent steps (:func:`.modules.recurrent_step`) for every recurrent family,
    mode (``modes``), width and batch of the plan, ``plan["rounds"]`` rounds in alternating
    order, the median of the rounds kept per length (:func:`.timing.typical`); pairs whose
    longer module the roofline predicts above ``plan["max_step_s"]`` are skipped."""
    from costmodel.roofline import predict

    todo = []
    for family, mode, hidden, batch in itertools.product(
            RECURRENT, modes, plan["step_hidden"], plan["step_batches"]):
        lengths = step_lengths(hidden)
        cfg = Config(family, lengths[1], hidden, batch, mode)
        t = predict(cost_record(cfg), hw, eff=eff, n=cfg.n, batch=batch)
        if float(t.training_s if mode == "training" else t.forward_s) <= plan["max_step_s"]:
            todo.append((family, mode, hidden, batch, lengths))
    rounds: dict[tuple, list] = {}
    quiet = QUIET_WAIT_S if plan["rounds"] > 1 else 0.0
    for round_ in range(plan["rounds"]):
        order = todo if round_ % 2 == 0 else todo[::-1]
        for i, (family, mode, hidden, batch, lengths) in enumerate(order, 1):
            row = recurrent_step(family, mode, hidden, batch, lengths, device,
                                 plan["step_budget_s"], quiet)
            rounds.setdefault((family, mode, hidden, batch), []).append(row)
            per_step = (row["long_s"] - row["short_s"]) / (lengths[1] - lengths[0])
            progress(f"[steps, round {round_ + 1}, {i}/{len(order)}] {family} {mode} "
                     f"d={hidden} batch={batch}: {per_step * 1e6:.3g} us a step")
    out = []
    for taken in rounds.values():  # per length the typical time over the rounds
        row = {**taken[0], **{t: typical([r[t] for r in taken]) for t in ("short_s", "long_s")},
               "rounds": len(taken)}
        row["time_s"] = (row["long_s"] - row["short_s"]) / (row["n_long"] - row["n_short"])
        out.append(row)
    return out
