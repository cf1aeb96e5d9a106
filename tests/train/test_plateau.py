"""ReduceLROnPlateau: the learning rate is halved when the monitored value stops improving."""
import jax
import numpy as np
import optax
import pytest

from jdl import losses, models, train


def make_run(lr):
    model = models.mlp([4, 2])
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
    ts = train.init_train_state(model, optimizer, jax.random.key(0), (1, 3))
    steps = train.make_steps(model, optimizer, losses.softmax_cross_entropy)
    x = np.asarray(jax.random.normal(jax.random.key(1), (32, 3)))
    y = (x[:, 0] > 0).astype(np.int32)
    return ts, steps, (x, y)


def test_learning_rate_halves_on_a_plateau():
    ts, (step, eval_step), xy = make_run(1e-9)  # so small that val_loss stays flat (within rtol)
    cb = train.ReduceLROnPlateau("val_loss", factor=0.5, patience=1)
    ts, _ = train.fit(ts, step, xy, epochs=4, batch_size=8, val_data=xy, eval_step=eval_step,
                      callbacks=[cb], verbose=0)
    # epoch 1 sets the best value; epochs 2, 3, 4 are plateaus with patience 1: 0.5^3
    np.testing.assert_allclose(cb.scale, 0.125)
    np.testing.assert_allclose(ts.opt_state.hyperparams["learning_rate"], 1e-9 * 0.125, rtol=1e-6)


def test_learning_rate_kept_while_improving():
    ts, (step, eval_step), xy = make_run(0.5)
    cb = train.ReduceLROnPlateau("val_loss", factor=0.5, patience=3)
    ts, history = train.fit(ts, step, xy, epochs=3, batch_size=8, val_data=xy, eval_step=eval_step,
                            callbacks=[cb], verbose=0)
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert cb.scale == 1.0


def test_plateau_needs_inject_hyperparams():
    model = models.mlp([2])
    ts = train.init_train_state(model, optax.sgd(0.1), jax.random.key(0), (1, 3))
    with pytest.raises(ValueError, match="inject_hyperparams"):
        train.ReduceLROnPlateau().on_train_begin(ts)


def test_plateau_with_jdl_optimizer_lr_name():
    from jdl import optimizers
    model = models.mlp([2])
    opt = optax.inject_hyperparams(optimizers.sgd)(lr=0.1)
    ts = train.init_train_state(model, opt, jax.random.key(0), (1, 3))
    cb = train.ReduceLROnPlateau(factor=0.5, patience=1)
    cb.on_train_begin(ts)
    ts = cb.on_epoch_end(0, {"val_loss": 1.0}, ts)
    ts = cb.on_epoch_end(1, {"val_loss": 1.0}, ts)
    np.testing.assert_allclose(ts.opt_state.hyperparams["lr"], 0.05, rtol=1e-6)


@pytest.mark.parametrize("patience,cooldown,atol,min_scale", [(1, 0, 0.0, 0.0), (2, 1, 0.01, 0.2),
                                                              (3, 2, 0.0, 0.0)])
def test_scales_equal_optax_reduce_on_plateau(patience, cooldown, atol, min_scale):
    """The host-side rule gives Optax's `contrib.reduce_on_plateau` scales, epoch by epoch,
    for positive values (where Optax's threshold (1 - rtol) * best - atol is ours)."""
    values = [1.0, 0.9, 0.905, 0.9, 0.899, 0.7, 0.71, 0.72, 0.695, 0.694, 0.8, 0.5, 0.5, 0.5]
    model = models.mlp([2])
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)
    ts = train.init_train_state(model, opt, jax.random.key(0), (1, 3))
    ours = train.ReduceLROnPlateau("val_loss", factor=0.5, patience=patience, rtol=1e-4,
                                   atol=atol, cooldown=cooldown, min_scale=min_scale)
    ours.on_train_begin(ts)
    reference = optax.contrib.reduce_on_plateau(factor=0.5, patience=patience, rtol=1e-4,
                                                atol=atol, cooldown=cooldown, min_scale=min_scale)
    state = reference.init(jax.numpy.zeros(()))
    update = jax.jit(reference.update)   # one compile instead of three conds per epoch
    for epoch, value in enumerate(values):
        ts = ours.on_epoch_end(epoch, {"val_loss": value}, ts)
        _, state = update(jax.numpy.zeros(()), state, value=jax.numpy.float32(value))
        np.testing.assert_allclose(ours.scale, float(state.scale), rtol=1e-6, err_msg=f"epoch {epoch}")
    np.testing.assert_allclose(ts.opt_state.hyperparams["learning_rate"], ours.scale, rtol=1e-6)


def test_plateau_in_max_mode_needs_a_real_gain():
    """mode 'max' (accuracies): a slightly lower value is never an improvement."""
    model = models.mlp([2])
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)
    ts = train.init_train_state(model, opt, jax.random.key(0), (1, 3))
    cb = train.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=1)
    assert cb.rule.mode == "max"
    cb.on_train_begin(ts)
    for epoch, value in enumerate([0.90, 0.89995]):
        ts = cb.on_epoch_end(epoch, {"val_accuracy": value}, ts)
    assert cb.scale == 0.5
