"""experiments/dropout_at_test.py in --quick mode, and its Monte-Carlo average against a hand
loop over masks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jdl import models


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, load_script, strict_json):
    out = tmp_path_factory.mktemp("dropout_at_test")
    with pytest.MonkeyPatch.context() as mp:
        module = load_script("dropout_at_test", mp)
        returned = module.main(["--quick", "--out", str(out)])
    return out, module, returned, strict_json(out / "metrics.json")


def test_layout_and_values(outputs):
    out, _, returned, m = outputs
    assert set(m["results"]) == {"inverted", "scaled"}
    for r in m["results"].values():
        assert set(r["test"]) == {"deterministic", "mc_1", "mc_4"}
        for s in r["test"].values():
            assert 0.0 <= s["accuracy"] <= 1.0 and s["nll"] > 0
        assert len(r["history"]["val_accuracy"]) == 2
    assert returned["summary"] == m["summary"]
    assert isinstance(m["summary"]["inverted"]["single_mask_worse"], bool)
    assert (out / "dropout_at_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mc_probabilities_is_the_mean_over_masks(outputs):
    module = outputs[1]
    model = models.mlp([16, 3], dropout=0.5)
    params = jax.jit(lambda k: model.init(k, (1, 5))[1])(jax.random.key(0))  # jitted: one compile
    x = jax.random.normal(jax.random.key(1), (4, 5))
    key = jax.random.key(2)
    one_mask = jax.jit(lambda k: jax.nn.softmax(model.apply(params, {}, x, key=k, train=True)[0]))
    by_hand = np.mean([one_mask(jax.random.fold_in(key, t)) for t in range(3)], axis=0)
    np.testing.assert_allclose(module.mc_probabilities(model, params, x, key, 3), by_hand,
                               rtol=1e-5, atol=1e-7)
    probs = jnp.array([[0.9, 0.1], [0.2, 0.8]])
    s = module.scores(probs, np.array([0, 0]))
    assert s["accuracy"] == 0.5 and s["nll"] == pytest.approx(-(np.log(0.9) + np.log(0.2)) / 2, rel=1e-5)
