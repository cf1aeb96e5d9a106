"""nn.check_keys(): a random key used by two draws raises KeyReuseError naming both layers; a
model that derives its keys properly passes, eagerly, under jit and inside fit."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import compile_cache, losses, nn, regularizers, train

X = jnp.ones((4, 6))


def twin_dropout() -> nn.Layer:
    """A hand-written layer with the classic slip: one key given to two dropout layers."""
    first, second = nn.Dropout(0.5), nn.Dropout(0.5)

    def apply(params, state, x, *, key=None, train=False):
        a, _ = first.apply({}, {}, x, key=key, train=train)
        b, _ = second.apply({}, {}, x, key=key, train=train)
        return a + b, state

    return nn.Layer(lambda key, shape: (tuple(shape), {}, {}), apply, "twin")


def build(model):
    _, params, state = model.init(jax.random.key(0), X.shape)
    return params, state


def test_a_key_given_to_two_dropouts_is_named_by_path_eagerly_and_under_jit():
    model = nn.serial(("features", nn.serial(nn.Dense(6), ("pair", twin_dropout()))), nn.Dense(2))
    params, state = build(model)
    apply = lambda p, s, x, k: model.apply(p, s, x, key=k, train=True)  # noqa: E731
    with nn.check_keys():
        with pytest.raises(nn.KeyReuseError, match=r"features/pair \(dropout\).*already used by "
                                                   r"features/pair \(dropout\)"):
            apply(params, state, X, jax.random.key(1))
        with pytest.raises(nn.KeyReuseError, match="jax.random.split"):
            jax.jit(apply)(params, state, X, jax.random.key(1))
    y, _ = apply(params, state, X, jax.random.key(1))   # outside the block: no check
    assert y.shape == (4, 2)


def test_properly_derived_keys_pass_eagerly_and_under_jit_and_vmap():
    model = nn.serial(nn.Dense(6), nn.Dropout(0.5), nn.parallel(nn.Dropout(0.2), nn.Dropout(0.3)),
                      nn.augmenting(nn.Dense(3), lambda k, x: x + jax.random.normal(k, x.shape)))
    params, state = build(model)
    apply = lambda k: model.apply(params, state, X, key=k, train=True)[0]  # noqa: E731
    with nn.check_keys():
        assert apply(jax.random.key(1)).shape == (4, 3)
        assert jax.jit(apply)(jax.random.key(2)).shape == (4, 3)
        assert jax.vmap(apply)(jax.random.split(jax.random.key(3), 2)).shape == (2, 4, 3)


def test_an_eager_loop_that_reuses_its_key_every_step_is_caught_on_the_second_step():
    model = nn.serial(nn.Dense(6), nn.Dropout(0.5))
    params, state = build(model)
    noisy = regularizers.noisy_apply(nn.Dense(6), 0.1)
    _, noisy_params, _ = noisy.init(jax.random.key(0), X.shape)
    with nn.check_keys():
        model.apply(params, state, X, key=jax.random.key(7), train=True)
        model.apply(params, state, X, key=jax.random.key(8), train=True)
        with pytest.raises(nn.KeyReuseError, match=r"dropout_0 \(dropout\)"):
            model.apply(params, state, X, key=jax.random.key(7), train=True)
    with nn.check_keys():   # a new block starts a new record; the noisy wrapper reports too
        noisy.apply(noisy_params, {}, X, key=jax.random.key(7), train=True)
        with pytest.raises(nn.KeyReuseError, match="noisy"):
            noisy.apply(noisy_params, {}, X, key=jax.random.key(7), train=True)


def test_fit_under_check_keys_passes_a_sound_model_and_stops_a_slip():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype(np.float32), rng.integers(0, 2, 32)
    optimizer = optax.sgd(0.1)

    def run(model):
        ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 6))
        step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
        return train.fit(ts, step, (x, y), batch_size=8, epochs=1, steps_per_call=2, verbose=0)

    with nn.check_keys():
        ts, _ = run(nn.serial(nn.Dense(6), nn.Dropout(0.5), nn.Dense(2)))
        assert int(ts.step) == 4
        with pytest.raises(nn.KeyReuseError, match=r"twin_0 \(dropout\)"):
            run(nn.serial(nn.Dense(6), twin_dropout(), nn.Dense(2)))


def test_check_keys_turns_the_compile_cache_off_inside_the_block():
    builds = []
    build_program = lambda: builds.append(1) or len(builds)  # noqa: E731
    key = ("test_check_keys_program", 1)
    compile_cache.cached(key, build_program)
    with nn.check_keys():
        assert compile_cache.cached(key, build_program) == 2
        assert compile_cache.cached(key, build_program) == 3
    assert compile_cache.cached(key, build_program) == 1   # the stored program again


def test_note_key_for_custom_layers_and_none_keys():
    with nn.check_keys():
        nn.note_key(None, "no_key")          # eval passes no key: nothing to record
        nn.note_key(None, "no_key")
        nn.note_key(jax.random.key(3), "mine")
        with pytest.raises(nn.KeyReuseError, match="given to mine was already used by mine"):
            nn.note_key(jax.random.key(3), "mine")
    assert issubclass(nn.KeyReuseError, ValueError)
