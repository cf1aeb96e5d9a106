"""Ways to compute a 3x3 convolution's filter gradient on XLA:CPU, timed side by side.

    python experiments/benchmarks/conv_filter_grad.py            # about 30 s on 2 cores
    python experiments/benchmarks/conv_filter_grad.py --quick    # seconds (the test)

The filter gradient dW[i, j, c, o] = sum_{b,h,w} x_pad[b, h+i, w+j, c] dy[b, h, w, o] was the
largest single operation of the CNN step in `cnn_profile.py`. For the two convolutions of
`models.fashion_cnn` at batch 128 (conv1: 28x28, 1 -> 32 channels; conv2: 14x14, 32 -> 64), each
candidate is checked against XLA's own gradient (`jax.vjp` of `lax.conv_general_dilated`), then
all are timed interleaved, `--repeats` times, median milliseconds per call:
- xla:       the VJP XLA derives (a convolution over the batch, with layout transposes);
- shifted:   nine products, one per kernel tap: einsum('bhwc,bhwo->co', x_pad shifted, dy);
- patches:   the nine shifted copies concatenated into (B, H, W, 9C) patches, one product;
- jdl:       what `jdl.nn.Conv` does on the CPU since 2026-12-06 (`jdl/nn/_conv_grad.py`):
             the patches or the per-tap products, each cut into 8 slices of the positions;
- forward:   the forward convolution at the same shapes, for scale (same multiply-adds).
Then the whole CNN train step (`models.fashion_cnn(dropout=0.5)`, Adam, batch 128, one step per
call), once with Conv's filter gradient and once with XLA's, interleaved (`--step-repeats`).
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

DIMENSIONS = ("NHWC", "HWIO", "NHWC")
LAYERS = {"conv1": (28, 1, 32), "conv2": (14, 32, 64)}   # spatial size, C_in, C_out


def conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=DIMENSIONS)


def xla(x, w, dy):
    return jax.vjp(lambda w: conv(x, w), w)[1](dy)[0]


def taps(x):
    size = x.shape[1]
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return [padded[:, i:i + size, j:j + size, :] for i in range(3) for j in range(3)]


def shifted(x, w, dy):
    grads = [jnp.einsum("bhwc,bhwo->co", tap, dy) for tap in taps(x)]
    return jnp.stack(grads).reshape(w.shape)


def patches(x, w, dy):
    return jnp.einsum("bhwk,bhwo->ko", jnp.concatenate(taps(x), axis=-1), dy).reshape(w.shape)


def jdl(x, w, dy):
    from jdl import nn
    return jax.vjp(lambda w: nn.conv2d(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1)), w)[1](dy)[0]


def forward(x, w, dy):
    return conv(x, w)


def time_step(batch: int, repeats: int) -> dict:
    """Median ms per CNN train step: Conv's filter gradient ("jdl") against XLA's ("xla")."""
    import optax

    from jdl import losses, nn, train
    rng = np.random.default_rng(0)
    xy = (jnp.asarray(rng.random((batch, 28, 28, 1), np.float32)),
          jnp.asarray(rng.integers(0, 10, batch).astype(np.int32)))
    steps, states = {}, {}
    for name, way in (("jdl", "auto"), ("xla", "xla")):
        blocks = [(f"block{i}", nn.serial(("conv", nn.Conv(width, 3, w_init="he", filter_gradient=way)),
                                          ("bn", nn.BatchNorm()), ("relu", nn.Relu()), ("pool", nn.MaxPool(2))))
                  for i, width in enumerate((32, 64), start=1)]   # models.fashion_cnn(dropout=0.5)
        head = nn.serial(("flatten", nn.Flatten()), ("fc", nn.Dense(128, w_init="he")), ("relu", nn.Relu()),
                         ("dropout", nn.Dropout(0.5)), ("logits", nn.Dense(10)))
        model, optimizer = nn.serial(("features", nn.serial(*blocks)), ("classifier", head)), optax.adam(1e-3)
        ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 28, 28, 1))
        steps[name] = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
        states[name] = jax.block_until_ready(steps[name](ts, xy)[0])
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            states[name] = jax.block_until_ready(step(states[name], xy)[0])
            times[name].append(1000 * (time.perf_counter() - t0))
    return {name: statistics.median(t) for name, t in times.items()}


def time_layer(size: int, c_in: int, c_out: int, batch: int, repeats: int) -> dict:
    """Median ms per call of each way, after checking each against XLA's gradient."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(batch, size, size, c_in)).astype(np.float32))
    dy = jnp.asarray(rng.normal(size=(batch, size, size, c_out)).astype(np.float32))
    w = jnp.asarray(rng.normal(size=(3, 3, c_in, c_out)).astype(np.float32))
    ways = {f.__name__: jax.jit(f) for f in (xla, shifted, patches, jdl, forward)}
    reference = ways["xla"](x, w, dy)
    for name in ("shifted", "patches", "jdl"):
        np.testing.assert_allclose(ways[name](x, w, dy), reference, rtol=1e-3,
                                   atol=1e-3 * float(jnp.abs(reference).max()))
    times = {name: [] for name in ways}
    for f in ways.values():
        jax.block_until_ready(f(x, w, dy))
    for _ in range(repeats):
        for name, f in ways.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(x, w, dy))
            times[name].append(1000 * (time.perf_counter() - t0))
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--step-repeats", type=int, default=30)
    args = p.parse_args(argv)
    batch, repeats = (8, 2) if args.quick else (128, args.repeats)
    step_repeats = 2 if args.quick else args.step_repeats
    result = {}
    for layer, (size, c_in, c_out) in LAYERS.items():
        result[layer] = time_layer(size, c_in, c_out, batch, repeats)
        print(f"{layer}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in result[layer].items()))
    result["step"] = time_step(batch, step_repeats)
    print("CNN train step: " + ", ".join(f"{k} {v:.2f} ms" for k, v in result["step"].items())
          + f" (xla / jdl = {result['step']['xla'] / result['step']['jdl']:.2f}x)")
    return result


if __name__ == "__main__":
    main()
