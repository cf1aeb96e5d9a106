"""Ratios and the markdown tables of a benchmark run."""
from __future__ import annotations

TITLES = {
    "mlp": "MLP 784-500-500-10, SGD momentum 0.9 lr 0.05, batch 128",
    "cnn": "CNN (fashion_cnn: conv-BN-ReLU-pool x2, dense 128, dropout 0.5, dense 10), Adam 1e-3, batch 128",
    "small": "Small model: MLP 784-64-64-10, batch 32, Adam, random data on the device",
    "population": "Population: MLP (64 or 784 inputs)-64-64-10, batch 32, Adam (per-member lr), random data on the device",
}


def _f(value, digits=1):
    return "-" if value is None else f"{value:,.{digits}f}"


def _runs_note(r: dict) -> str:
    """The row's note, with every run's steps/s when the row ran more than once (the median shown)."""
    runs = r.get("repeats_steps_per_s") or []
    listed = f"runs: {', '.join(_f(v) for v in runs)}" if len(runs) > 1 else ""
    return "; ".join(part for part in (r.get("note", ""), listed) if part)


def add_ratios(case: str, rows: dict) -> None:
    """ratio = rate / pure-jax's rate (epoch rates for mlp/cnn, so `fit` rows compare like for like)."""
    def ok(name):
        return rows.get(name, {}).get("status") == "ok"
    key = "epoch_steps_per_s" if case in ("mlp", "cnn") else "steps_per_s"
    for name, r in rows.items():
        if r.get("status") != "ok" or case == "population":
            continue
        if ok("pure-jax"):
            r["ratio_to_pure_jax"] = r[key] / rows["pure-jax"][key]
            if case in ("mlp", "cnn") and r.get("timing") != "epoch" and rows["pure-jax"].get("steps_per_s"):
                r["window_ratio_to_pure_jax"] = r["steps_per_s"] / rows["pure-jax"]["steps_per_s"]
        if case == "small" and ok("flax-nnx"):
            r["ratio_to_flax_nnx"] = r[key] / rows["flax-nnx"][key]


def table(case: str, result: dict) -> str:
    rows, s = result["rows"], result["settings"]
    out = [f"### {TITLES[case]}", ""]
    if case in ("mlp", "cnn"):
        spe = s["steps_per_epoch"] or "all (468 at batch 128)"
        out.append(f"Settings: {s['epochs']} epochs of {spe} steps; jdl-scan-epoch {s['scan_epochs']} "
                   f"epochs of {s['scan_steps_per_epoch'] or spe} steps. steps/s: median of 10-step windows "
                   f"after step {s['warmup']}; for `fit` rows (†) the epoch rate. Ratio: epoch steps/s "
                   "over pure-jax's. Accuracy on the test set after this run.")
        out += ["", "| row | steps/s | epoch steps/s | ratio to pure-jax | compile s | test acc | "
                "peak RSS MB | total s | steps | notes |", "|---" * 10 + "|"]
        for name, r in rows.items():
            if r.get("status") != "ok":
                out.append(f"| {name} | {r.get('status')} |  |  |  |  |  |  |  | {r.get('note', '')} |")
                continue
            dagger = " †" if r.get("timing") == "epoch" else ""
            out.append(f"| {name} | {_f(r['steps_per_s'])}{dagger} | {_f(r['epoch_steps_per_s'])} | "
                       f"{_f(r.get('ratio_to_pure_jax'), 2)} | {_f(r['compile_s'], 2)} | "
                       f"{_f(r['test_accuracy'], 4)} | {_f(r['peak_rss_mb'], 0)} | {_f(r['total_s'])} | "
                       f"{r['steps']} | {_runs_note(r)} |")
    elif case == "small":
        out.append(f"Settings: {s['steps']} steps timed after {s['warmup']} warm-up steps, one sync at "
                   f"the end, best of {s['repeats']}; 8 random batches cycled.")
        out += ["", "| row | steps/s (best) | steps/s (median) | ratio to pure-jax | x flax-nnx | "
                "compile s | peak RSS MB | notes |", "|---" * 8 + "|"]
        for name, r in rows.items():
            if r.get("status") != "ok":
                out.append(f"| {name} | {r.get('status')} |  |  |  |  |  | {r.get('note', '')} |")
                continue
            out.append(f"| {name} | {_f(r['steps_per_s'])} | {_f(r['median_steps_per_s'])} | "
                       f"{_f(r.get('ratio_to_pure_jax'), 2)} | {_f(r.get('ratio_to_flax_nnx'), 2)} | "
                       f"{_f(r['compile_s'], 2)} | {_f(r['peak_rss_mb'], 0)} | {r.get('note', '')} |")
    else:
        out.append(f"Settings: {s['steps']} steps per member, best of {s['repeats']}. Together: "
                   "`init_population` + `make_population_step` (one vmapped call per step; with 2 "
                   "devices, `shard_population` over 2 simulated CPU devices); one after "
                   "another: the same members, each trained alone with the same jitted single step.")
        out += ["", "| inputs | N | devices | together member-steps/s | one after another member-steps/s | "
                "ratio | compile s (vmapped / single) | peak RSS MB |", "|---" * 8 + "|"]
        for name, r in rows.items():
            if r.get("status") != "ok":
                out.append(f"| {name} | {r.get('status')} |  |  |  |  |  | {r.get('note', '')} |")
                continue
            out.append(f"| {r['inputs']} | {r['members']} | {r.get('devices', 1)} | "
                       f"{_f(r['population_member_steps_per_s'])} | "
                       f"{_f(r['sequential_member_steps_per_s'])} | {_f(r['ratio'], 2)} | "
                       f"{_f(r['compile_population_s'], 2)} / {_f(r['compile_single_s'], 2)} | "
                       f"{_f(r['peak_rss_mb'], 0)} |")
    return "\n".join(out) + "\n"


def markdown(results: dict) -> str:
    v = results["versions"]
    lines = ["# jdl benchmarks", "",
             f"- command: `{results['command']}`",
             f"- date: {results['started']}, total {results['total_s']:.0f} s"
             + (" (--quick: tiny step counts, random data; the figures mean nothing)" if results["quick"] else ""),
             f"- device: {results['device']}; machine: {results['machine']}",
             f"- data: {results['data']['source']}: {results['data']['note']}",
             "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
             f"- XLA_FLAGS: {results['xla_flags'] or '(unset)'}",
             "- each row ran in its own process, one after another; peak RSS is that process's",
             ""]
    for case, result in results["cases"].items():
        lines.append(table(case, result))
    return "\n".join(lines)
