"""Parameter arithmetic (Salakhutdinov): fully connected vs locally connected vs convolutional.

    python experiments/param_arithmetic.py            # the lecture's 200x200 image (shapes only)
    python experiments/param_arithmetic.py --quick    # the same computation (the tests run it)
    python experiments/param_arithmetic.py --size 100 --kernel 5 --filters 32

Claim (Salakhutdinov, "Local Connectivity"): "Fully Connected: 200x200 image, 40K hidden units, ~2B
parameters"; "Locally Connected: 200x200 image, filter size 10x10, 4M parameters!"; then
"Parameter Sharing": units that share parameters form a feature map, computed by a
convolution. The lecture's text gives no number for the shared case; the slide it follows comes
from Ranzato's tutorial slides, which continue (in this docstring's words) with a convolutional
layer of 100 filters of 10x10 on the same 200x200 image: 10K parameters.

Method: each layer is built with jdl (`nn.Dense`, `nn.LocallyConnected2D`, `nn.Conv`) on a
(1, 200, 200, 1) grayscale input and initialised under `jax.eval_shape`, so the 1.6 billion
weights of the dense layer are counted from shapes without being allocated. The counts are
checked against the closed forms (H x W input, N dense units, k x k filters, F maps, C = 1,
"SAME" padding and stride 1, so a map has H W units: 40K hidden units per map, as the lecture):

    fully connected       weights = (H W C) N             biases = N
    locally connected     weights = (H W F) (k^2 C)       biases = H W F
    convolutional         weights = F (k^2 C)             biases = F

The lecture counts weights ("~2B" is 1.6e9 rounded; 4M = 40,000 x 100 exactly); biases are
reported separately. A sweep over image sizes (N = H W dense units) shows the scaling: dense
grows as (H W)^2, local as H W k^2, convolutional not at all.

Writes `<out>/metrics.json` and `<out>/param_arithmetic.png`. No training: both modes take a
few seconds; `--quick` only shortens the size sweep.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import numpy as np
from _common import finish_figure, parser, save_results, settings as _settings

from jdl import nn, viz

SWEEP = (25, 50, 100, 200, 400, 800)
DECK = {"fully_connected": 2e9, "locally_connected": 4e6, "convolutional": 1e4}
QUOTES = {"fully_connected": "200x200 image, 40K hidden units, ~2B parameters (Salakhutdinov)",
          "locally_connected": "200x200 image, filter size 10x10, 4M parameters! (Salakhutdinov)",
          "convolutional": "200x200 image, 100 filters, filter size 10x10, 10K parameters "
                           "(Ranzato's slide; Salakhutdinov shows no number)"}


def parse_args(argv=None):
    p = parser("param_arithmetic", __doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=200, help="image side H = W (deck: 200)")
    p.add_argument("--channels", type=int, default=1, help="input channels C (deck: 1)")
    p.add_argument("--hidden", type=int, default=40_000, help="dense hidden units N (deck: 40K)")
    p.add_argument("--kernel", type=int, default=10, help="filter side k (deck: 10)")
    p.add_argument("--filters", type=int, default=100,
                   help="convolutional feature maps F (Ranzato: 100; the local layer has 1)")
    args = p.parse_args(argv)
    for name in ("size", "channels", "hidden", "kernel", "filters"):
        if getattr(args, name) < 1:
            p.error(f"--{name}: expected a positive int, got {getattr(args, name)}")
    if args.kernel > args.size:
        p.error(f"--kernel ({args.kernel}) must not exceed --size ({args.size})")
    return args


def count(layer: nn.Layer, input_shape) -> dict:
    """Output shape, weights ("w" leaves), biases ("b" leaves) of `layer` under eval_shape."""
    box = {}

    def init(key):
        box["shape"], params, _ = layer.init(key, tuple(input_shape))
        return params

    params = jax.eval_shape(init, jax.random.key(0))
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    sizes = {"w": 0, "b": 0}
    for path, leaf in flat:
        sizes[path[-1].key] += math.prod(leaf.shape)
    out = tuple(int(d) for d in box["shape"])
    return {"output_shape": list(out), "hidden_units": math.prod(out[1:]),
            "weights": sizes["w"], "biases": sizes["b"], "total": sizes["w"] + sizes["b"]}


def formulas(size: int, channels: int, hidden: int, kernel: int, filters: int) -> dict:
    """The closed forms of the module docstring ("SAME" padding, stride 1: H W units per map)."""
    hw, k2c = size * size, kernel * kernel * channels
    return {
        "fully_connected": {"hidden_units": hidden, "weights": hw * channels * hidden,
                            "biases": hidden},
        "locally_connected": {"hidden_units": hw, "weights": hw * k2c, "biases": hw},
        "convolutional_1_map": {"hidden_units": hw, "weights": k2c, "biases": 1},
        "convolutional": {"hidden_units": hw * filters, "weights": filters * k2c,
                          "biases": filters},
    }


def layers(hidden: int, kernel: int, filters: int) -> dict[str, nn.Layer]:
    """The four layers compared (each maps a (1, H, W, C) image to its hidden units)."""
    return {"fully_connected": nn.serial(nn.Flatten(), nn.Dense(hidden)),
            "locally_connected": nn.LocallyConnected2D(1, kernel, padding="SAME"),
            "convolutional_1_map": nn.Conv(1, kernel, padding="SAME"),
            "convolutional": nn.Conv(filters, kernel, padding="SAME")}


def compare(args) -> dict:
    """Counts from jdl layers next to the formulas; `matches` is True when all agree."""
    shape = (1, args.size, args.size, args.channels)
    expected = formulas(args.size, args.channels, args.hidden, args.kernel, args.filters)
    rows = {}
    for name, layer in layers(args.hidden, args.kernel, args.filters).items():
        got = count(layer, shape)
        want = expected[name]
        got["formula"] = {**want, "total": want["weights"] + want["biases"]}
        got["matches"] = all(got[k] == want[k] for k in ("hidden_units", "weights", "biases"))
        got["float32_bytes"] = 4 * got["total"]
        rows[name] = got
    return rows


def sweep(args, sizes) -> list[dict]:
    """Weights per layer type for each image side s (N = s^2 dense units, one map per local /
    conv layer): how each grows with the image. One row per size, in order."""
    out = []
    for s in sizes:
        if s < args.kernel:
            continue
        ls = layers(s * s, args.kernel, 1)
        shape = (1, s, s, args.channels)
        out.append({"size": s, **{name: count(ls[name], shape)["weights"] for name in
                                  ("fully_connected", "locally_connected", "convolutional_1_map")}})
    return out


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def table(rows: dict) -> str:
    lines = [f"{'layer':22s} {'hidden units':>14s} {'weights':>15s} {'biases':>10s} "
             f"{'float32':>10s}  formula"]
    for name, r in rows.items():
        lines.append(f"{name:22s} {r['hidden_units']:>14,d} {r['weights']:>15,d} "
                     f"{r['biases']:>10,d} {_bytes(r['float32_bytes']):>10s}  "
                     f"{'ok' if r['matches'] else 'MISMATCH'}")
    return "\n".join(lines)


def plot(rows: dict, sweep_rows: list[dict], path: Path, title: str) -> Path:
    """Weights per layer type (log bars, deck values marked) and weights vs image side."""
    plt = viz.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(13, 4.5))
    names = list(rows)
    pos = np.arange(len(names))
    ax[0].bar(pos, [rows[n]["weights"] for n in names], color="tab:blue", label="jdl (weights)")
    for i, n in enumerate(names):
        ax[0].text(i, rows[n]["weights"] * 1.5, f"{rows[n]['weights']:,}", ha="center", fontsize=8)
        if n in DECK:
            ax[0].plot([i - 0.4, i + 0.4], [DECK[n]] * 2, "r--", lw=1.5,
                       label="deck / slide" if i == 0 else None)
    ax[0].set(yscale="log", xticks=pos, ylabel="weights", title=title)
    ax[0].set_xticklabels([n.replace("_", "\n") for n in names], fontsize=8)
    ax[0].legend(fontsize=8)
    sizes = [r["size"] for r in sweep_rows]
    for name in ("fully_connected", "locally_connected", "convolutional_1_map"):
        ax[1].plot(sizes, [r[name] for r in sweep_rows], "o-", label=name)
    ax[1].set(xscale="log", yscale="log", xlabel="image side (pixels), one hidden unit per pixel",
              ylabel="weights", title="growth with the image: (HW)^2, HW k^2, k^2")
    ax[1].set_xticks(sizes, [str(s) for s in sizes], minor=False)
    ax[1].set_xticks([], minor=True)
    ax[1].legend(fontsize=8)
    return finish_figure(fig, path, grid=ax)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    rows = compare(args)
    sweep_rows = sweep(args, SWEEP[:4] if args.quick else SWEEP)
    print(f"{args.size}x{args.size}x{args.channels} image, {args.hidden:,} dense units, "
          f"{args.kernel}x{args.kernel} filters, {args.filters} conv maps")
    print(table(rows))
    deck_setup = (args.size, args.channels, args.hidden, args.kernel, args.filters) == \
        (200, 1, 40_000, 10, 100)
    deck = {}
    if deck_setup:
        deck = {name: {"quote": QUOTES[name], "deck_value": DECK[name],
                       "weights": rows[name]["weights"],
                       "ratio_to_deck": rows[name]["weights"] / DECK[name]} for name in DECK}
        print("deck:", "; ".join(f"{n} {v['weights']:,} vs {v['deck_value']:,.0f}"
                                 for n, v in deck.items()))
    fc, lc, cv = (rows[n]["weights"] for n in ("fully_connected", "locally_connected",
                                               "convolutional"))
    settings = _settings(args)
    out = {"settings": settings, "layers": rows,
           "all_match": all(r["matches"] for r in rows.values()),
           "ratios": {"fully_over_local": fc / lc, "local_over_conv": lc / cv,
                      "fully_over_conv": fc / cv},
           "deck": deck, "sweep_weights": sweep_rows}
    save_results(args.out, out, started=started)
    plot(rows, sweep_rows, args.out / "param_arithmetic.png",
         f"{args.size}x{args.size} image: weights per layer type")
    if not out["all_match"]:
        raise SystemExit("param_arithmetic: a jdl count differs from its formula (see the table)")
    return out


if __name__ == "__main__":
    main()
