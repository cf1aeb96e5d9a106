"""Mixed precision: bfloat16 compute, float32 parameters, optimizer state and BN statistics."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jdl import losses, models, train


def test_bfloat16_step_keeps_float32_state_and_tracks_float32():
    model = models.fashion_cnn(widths=(4, 8), dense=16)
    optimizer = optax.sgd(0.05)  # updates proportional to the gradient (Adam would amplify bf16 noise near 0)
    x = jax.random.uniform(jax.random.key(1), (8, 12, 12, 1))
    y = jax.random.randint(jax.random.key(2), (8,), 0, 10)
    results = {}
    for dtype in (None, jnp.bfloat16):
        ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 12, 12, 1))
        step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy,
                                     compute_dtype=dtype)
        for _ in range(3):
            ts, logs = step(ts, (x, y))
        results[dtype] = (ts, logs)
    ts16, logs16 = results[jnp.bfloat16]
    ts32, logs32 = results[None]
    for leaf in jax.tree.leaves((ts16.params, ts16.state, ts16.opt_state)):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
    assert logs16["loss"].dtype == jnp.float32
    np.testing.assert_allclose(logs16["loss"], logs32["loss"], rtol=3e-2)
    # Compare what the parameters compute, not the parameters: bfloat16 rounding moves every
    # parameter a little, and batch norm hides much of it from the logits.
    logits16, _ = model.apply(ts16.params, ts16.state, x)
    logits32, _ = model.apply(ts32.params, ts32.state, x)
    np.testing.assert_allclose(logits16, logits32, rtol=5e-2, atol=5e-2)
    w16, w32 = ts16.params["classifier"]["fc"]["w"], ts32.params["classifier"]["fc"]["w"]
    np.testing.assert_allclose(w16, w32, rtol=5e-2, atol=2e-3)  # a weight with a real gradient
    eval_step = train.make_eval_step(model, losses.softmax_cross_entropy, compute_dtype=jnp.bfloat16)
    assert np.isfinite(float(eval_step(ts16, (x, y))["loss"]))
