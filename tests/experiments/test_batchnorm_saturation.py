"""experiments/batchnorm_saturation.py: the probe's saturated fractions and gradient norms equal
a hand-written forward pass (numpy batch norm, optax's cross-entropy), and --quick writes every
variant's curves, summaries and files."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jdl import models, train


def hand_probe(params, x, y, activation, depth, batch_norm):
    """Saturated fraction per hidden layer and ||dL/dW|| per Dense layer, written out by hand."""
    g = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[activation]
    threshold = {"sigmoid": 3.6369, "tanh": 1.8184}[activation]  # where g'(a) = 10% of its peak

    def forward(params):
        h, pre = x, []
        for l in range(depth):
            a = h @ params[f"dense_{l}"]["w"] + params[f"dense_{l}"]["b"][None]
            if batch_norm:
                bn = params[f"batch_norm_{l}"]
                a = (bn["scale"][None] * (a - a.mean(0, keepdims=True))
                     / jnp.sqrt(a.var(0, keepdims=True) + 1e-5) + bn["bias"][None])
            pre.append(a)
            h = g(a)
        logits = h @ params[f"dense_{depth}"]["w"] + params[f"dense_{depth}"]["b"][None]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), pre

    grads, pre = jax.grad(forward, has_aux=True)(params)
    saturated = [float(np.mean(np.abs(np.asarray(a)) > threshold)) for a in pre]
    norms = [float(np.sqrt(np.sum(np.asarray(grads[f"dense_{l}"]["w"]) ** 2))) for l in range(depth + 1)]
    return saturated, norms


def test_probe_equals_a_hand_written_forward_pass(monkeypatch, load_script):
    script = load_script("batchnorm_saturation", monkeypatch)
    x = jax.random.uniform(jax.random.key(0), (64, 20))
    y = jax.random.randint(jax.random.key(1), (64,), 0, 10)
    depth = 3
    for activation in ("sigmoid", "tanh"):
        for init in script.INITS:
            for batch_norm in (False, True):
                model = models.mlp([12] * depth + [10], activation, batch_norm=batch_norm,
                                   w_init=script.INITS[init])
                keys = jnp.stack([jax.random.key(2), jax.random.key(3)])
                pop = train.init_population(model, optax.sgd(0.1), keys, (1, 20))
                saturated, norms = script.make_probe(model, activation, depth, batch_norm)(pop, x, y)
                assert saturated.shape == (2, depth) and norms.shape == (2, depth + 1)
                for i in range(2):
                    params = jax.tree.map(lambda a: a[i], pop.params)
                    want_sat, want_norms = hand_probe(params, x, y, activation, depth, batch_norm)
                    # a pre-activation within rounding of the threshold may fall either side
                    np.testing.assert_allclose(saturated[i], want_sat, atol=2 / (64 * 12))
                    np.testing.assert_allclose(norms[i], want_norms, rtol=1e-4)


def test_large_init_saturates_and_batch_norm_unsaturates(monkeypatch, load_script):
    """The premise of the experiment, on random inputs: N(0, 1) weights push most tanh
    pre-activations past |a| = 1.82; batch norm brings them back to N(0, 1)'s 6.9%."""
    script = load_script("batchnorm_saturation", monkeypatch)
    x = jax.random.uniform(jax.random.key(0), (256, 100))
    y = jnp.zeros((256,), jnp.int32)
    fractions = {}
    for batch_norm in (False, True):
        model = models.mlp([64] * 3 + [10], "tanh", batch_norm=batch_norm, w_init=script.INITS["N(0, 1)"])
        pop = train.init_population(model, optax.sgd(0.1), jnp.stack([jax.random.key(5)]), (1, 100))
        fractions[batch_norm] = script.make_probe(model, "tanh", 3, batch_norm)(pop, x, y)[0][0]
    assert fractions[False].min() > 0.5
    np.testing.assert_allclose(fractions[True], 0.069, atol=0.03)


def test_quick_run(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("batchnorm_saturation", monkeypatch)
    script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    s = saved["settings"]
    names = [script.variant_name(*v) for v in script.variants()]
    assert sorted(saved["results"]) == sorted(names) and len(names) == 8
    for name, r in saved["results"].items():
        sat, g = np.array(r["saturated"]), np.array(r["grad_norm"])
        assert sat.shape == (s["seeds"], s["epochs"] + 1, s["depth"])
        assert g.shape == (s["seeds"], s["epochs"] + 1, s["depth"] + 1)
        assert np.array(r["val_accuracy"]).shape == (s["seeds"], s["epochs"])
        assert ((0 <= sat) & (sat <= 1)).all() and (g > 0).all()
        summary = saved["summary"][name]
        ratio = g[:, -1, 0] / g[:, -1, -1]
        np.testing.assert_allclose([summary["vanishing_end"]["mean"], summary["vanishing_end"]["sd"]],
                                   [ratio.mean(), ratio.std(ddof=1)], rtol=1e-9)
    assert (tmp_path / "batchnorm_saturation.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "table.md").read_text().count("\n") == 2 + 8
