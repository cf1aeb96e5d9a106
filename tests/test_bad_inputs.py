"""The bad-input matrix: wrong calls across the public API, one row each.

Every wrong call (wrong rank, dtype or shape, out-of-range labels, negative rates, empty
datasets, a params tree from another model, a key of the wrong type, an unknown name, a corrupt
file) raises ValueError or TypeError whose message names the argument, what was expected and
what was received; each row's pattern checks the three. docs/bad-inputs.md lists the rows in
the same order: `python tests/test_bad_inputs.py` prints that table from this file."""
import ast
import functools
import pathlib
import re
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import (activations, backprop, checkpoint, data, initializers, losses, metrics, models,
                 nn, optimizers, regularizers, schedules, summary, train, transfer, viz)

HERE = pathlib.Path(__file__).resolve()
DOC = HERE.parents[1] / "docs" / "bad-inputs.md"
AREAS = ("layers", "models", "losses", "metrics", "optimizers", "schedules", "regularizers",
         "data", "fit", "populations", "checkpoints", "transfer", "viz", "initializers",
         "summary", "backprop")
K = jax.random.key(0)
X8, Y8 = np.ones((8, 3), np.float32), np.arange(8, dtype=np.int32) % 4
LOGITS, LABELS = jnp.zeros((4, 3)), jnp.array([0, 1, 2, 0])
IMAGES = jnp.zeros((2, 4, 4, 1))


@functools.cache
def mlp():
    """A tiny classifier (3 features -> 4 classes): model, TrainState, train and eval steps."""
    model, opt = models.mlp([5, 4]), optax.sgd(0.1)
    step, eval_step = train.make_steps(model, opt, losses.softmax_cross_entropy)
    return model, train.init_train_state(model, opt, K, (1, 3)), step, eval_step


@functools.cache
def conv():
    """A tiny conv net on 4x4 grey images: model and TrainState."""
    model = nn.serial(nn.Conv(2, 3), nn.Flatten(), nn.Dense(4))
    return model, train.init_train_state(model, optax.sgd(0.1), K, (1, 4, 4, 1))


def other_params():
    """The params of another model: 6 hidden units, not 5."""
    return train.init_train_state(models.mlp([6, 4]), optax.sgd(0.1), K, (1, 3)).params


def population():
    return train.init_population(models.mlp([4]), optax.sgd(0.1), jax.random.split(K, 2), (1, 3))


def fit(train_data=(X8, Y8), **kw):
    """`fit` of the tiny classifier for one epoch of 8 examples, with `kw` changed; on a copy
    of its TrainState, since `fit` donates it."""
    _, ts, step, _ = mlp()
    kw = {"epochs": 1, "batch_size": 4, "verbose": 0, **kw}
    return train.fit(jax.tree.map(jnp.copy, ts), step, train_data, **kw)


def read_file(reader, content, *args):
    """`reader(path, *args)` on a temporary file holding `content`: bytes, or a function of
    the directory that writes the file and returns its path."""
    with tempfile.TemporaryDirectory() as d:
        if callable(content):
            path = content(pathlib.Path(d))
        else:
            path = pathlib.Path(d) / "file"
            path.write_bytes(content)
        return reader(path, *args)


def truncated_weights(d: pathlib.Path) -> pathlib.Path:
    """A weights file without its last 4 bytes."""
    blob = checkpoint.save_weights(d / "w", {"a": jnp.ones(3)}).read_bytes()
    (d / "cut").write_bytes(blob[:-4])
    return d / "cut"


def restore_corrupted_checkpoint():
    """Save a run, flip a byte in its largest data file, restore: the sha256 check catches it."""
    _, ts, _, _ = mlp()
    with tempfile.TemporaryDirectory() as d:
        with checkpoint.CheckpointManager(d) as ckpt:
            ckpt.save(ts, step=1)
        victim = max((p for p in (pathlib.Path(d) / "1").rglob("*")
                      if p.is_file() and "manifest" not in p.name), key=lambda p: p.stat().st_size)
        blob = bytearray(victim.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        victim.write_bytes(bytes(blob))
        with checkpoint.CheckpointManager(d) as ckpt:
            return ckpt.restore(ts)


NOPE = r"got 'nope'"
CASES = [  # id, area, the wrong call, exception, pattern: argument .* expected .* received
    ("dense-features", "layers", lambda: nn.Dense(-1), ValueError, r"features to be a positive int, got -1"),
    ("dense-input-shape", "layers", lambda: nn.Dense(4).init(K, 3), ValueError, r"input_shape to be a sequence of ints.*got 3"),
    ("dense-params-other", "layers", lambda: nn.Dense(4).apply({"w": jnp.ones((5, 4)), "b": jnp.ones(4)}, {}, X8), ValueError, r"x with 5 features.*params\['w'\] \(5, 4\)\), got shape \(8, 3\)"),
    ("conv-rank", "layers", lambda: nn.Conv(4, 3).init(K, (2, 8, 8)), ValueError, r"Conv: expected an input of rank 4.*got shape \(2, 8, 8\) of rank 3"),
    ("conv-kernel", "layers", lambda: nn.Conv(4, 0), ValueError, r"kernel_size to be a positive int.*got \(0, 0\)"),
    ("conv-padding", "layers", lambda: nn.Conv(4, 3, padding="FULL"), ValueError, r"padding 'SAME', 'VALID'.*got 'FULL'"),
    ("conv-transpose-padding", "layers", lambda: nn.ConvTranspose(4, 3, padding="FULL"), ValueError, r"padding 'SAME', 'VALID'.*got 'FULL'"),
    ("pool-too-small", "layers", lambda: nn.MaxPool(4).init(K, (1, 2, 2, 1)), ValueError, r"input no smaller than window \(4, 4\).*got input_shape \(1, 2, 2, 1\)"),
    ("dropout-negative-rate", "layers", lambda: nn.Dropout(-0.1), ValueError, r"rate .*in \[0, 1\), got -0.1"),
    ("dropout-no-key", "layers", lambda: nn.Dropout(0.5).apply({}, {}, X8, train=True), ValueError, r"train=True needs a random key.*key=jax.random.key"),
    ("batchnorm-momentum", "layers", lambda: nn.BatchNorm(momentum=1.5), ValueError, r"momentum in \[0, 1\), got 1.5"),
    ("lrn-size", "layers", lambda: nn.LocalResponseNorm(size=0), ValueError, r"size to be a positive int, got 0"),
    ("reshape-size", "layers", lambda: nn.Reshape((5,)).init(K, (2, 3)), ValueError, r"expected 5 values per example.*got input \(2, 3\) with 3"),
    ("activation-unknown", "layers", lambda: nn.activation_layer("nope"), ValueError, r"activation: expected one of \[.*" + NOPE),
    ("serial-child", "layers", lambda: nn.serial(nn.Dense(3), 5), TypeError, r"child 1: expected a Layer.*got int"),
    ("eval-mode-layer", "layers", lambda: nn.eval_mode(3), TypeError, r"eval_mode: expected a jdl.nn.Layer, got int"),
    ("cut-unknown", "layers", lambda: nn.cut(models.mlp([5, 4]), "dense_9"), ValueError, r"no child 'dense_9'.*children \['flatten', 'dense_0'"),
    ("initializer-unknown", "initializers", lambda: initializers.get("nope"), ValueError, r"initializer: expected a callable or one of \[.*" + NOPE),
    ("activation-fn-unknown", "initializers", lambda: activations.get("nope"), ValueError, r"activation: expected a callable or one of \[.*" + NOPE),
    ("mlp-sizes", "models", lambda: models.mlp([4, -1]), ValueError, r"sizes to be a non-empty list of positive ints, got \[4, -1\]"),
    ("mlp-activation", "models", lambda: models.mlp([4, 4], "nope"), ValueError, r"activation: expected one of \[.*" + NOPE),
    ("lenet-input-size", "models", lambda: models.lenet5(input_size=30), ValueError, r"input_size 28 or 32, got 30"),
    ("lenet-rank", "models", lambda: models.lenet5().init(K, (1, 32, 32)), ValueError, r"c1: Conv: expected an input of rank 4.*got shape \(1, 32, 32\)"),
    ("alexnet-groups", "models", lambda: models.alexnet(groups=3), ValueError, r"groups 1 .*or 2 .*got 3"),
    ("resnet-depth", "models", lambda: models.resnet(19), ValueError, r"depth in \(18, 34, 50, 101, 152\), got 19"),
    ("vgg-depth", "models", lambda: models.vgg(12), ValueError, r"depth in \(11, 13, 16, 19\), got 12"),
    ("logistic-classes", "models", lambda: models.logistic_regression(0), ValueError, r"features to be a positive int, got 0"),
    ("aux-heads-model", "models", lambda: models.googlenet_aux_heads(models.mlp([4])), ValueError, r"googlenet\(aux_heads=True\).*got children \['flatten', 'dense_0'\]"),
    ("summary-model", "summary", lambda: summary.summary("lenet5", (1, 32, 32, 1)), TypeError, r"model to be a jdl.nn.Layer, got str"),
    ("summary-input-shape", "summary", lambda: summary.summary(models.mlp([4]), 3), ValueError, r"input_shape to be a sequence of ints.*got 3"),
    ("summary-depth", "summary", lambda: summary.summary(models.mlp([4]), (1, 3), max_depth=0), ValueError, r"max_depth >= 1 or None, got 0"),
    ("sce-float-labels", "losses", lambda: losses.softmax_cross_entropy(LOGITS, jnp.zeros(4)), TypeError, r"labels: expected an integer dtype.*got float32"),
    ("sce-label-range", "losses", lambda: losses.softmax_cross_entropy(LOGITS, jnp.array([0, 1, 2, 3])), ValueError, r"labels: expected class indices in \[0, 3\), got min 0, max 3"),
    ("sce-label-shape", "losses", lambda: losses.softmax_cross_entropy(LOGITS, jnp.zeros((4, 1), int)), ValueError, r"labels: expected shape \(4,\).*got \(4, 1\)"),
    ("quadratic-shape", "losses", lambda: losses.quadratic(jnp.zeros((4, 2)), jnp.zeros(4)), ValueError, r"targets: expected shape \(4, 2\).*got \(4,\)"),
    ("bce-probs-range", "losses", lambda: losses.binary_cross_entropy(jnp.array([1.5]), jnp.array([1.0])), ValueError, r"probs: expected values in \[0, 1\], got min 1.5"),
    ("log-loss-sign", "losses", lambda: losses.log_loss(jnp.zeros(3), jnp.array([0, 1, 1])), ValueError, r"c: expected class signs in \{-1, \+1\}, got values \[0\]"),
    ("cce-complex", "losses", lambda: losses.categorical_cross_entropy(LOGITS.astype(complex), LOGITS), TypeError, r"logits: expected a real floating dtype, got complex64"),
    ("loss-unknown", "losses", lambda: losses.get("nope"), ValueError, r"loss: expected a callable or one of \[.*" + NOPE),
    ("reduce-mode", "losses", lambda: losses.reduce(jnp.zeros(3), "median"), ValueError, r"reduction: expected one of \('mean', 'sum', 'none'\), got 'median'"),
    ("reduce-weights", "losses", lambda: losses.reduce(jnp.ones(3), weights=jnp.ones(4)), ValueError, r"weights: expected a shape that broadcasts to .*\(3,\), got \(4,\)"),
    ("multi-task-weights", "losses", lambda: losses.multi_task([jnp.ones(3), jnp.ones(3)], weights=[1.0]), ValueError, r"weights: expected 2 weights.*got 1"),
    ("accuracy-float-labels", "metrics", lambda: metrics.accuracy(LOGITS, jnp.zeros(4)), TypeError, r"labels: expected an integer dtype.*got float32"),
    ("accuracy-label-range", "metrics", lambda: metrics.accuracy(LOGITS, jnp.array([0, 1, 2, -1])), ValueError, r"labels: expected class indices in \[0, 3\), got min -1"),
    ("top-k-zero", "metrics", lambda: metrics.top_k_accuracy(LOGITS, LABELS, 0), ValueError, r"k: expected an int in \[1, 3\].*got 0"),
    ("confusion-classes", "metrics", lambda: metrics.confusion_matrix(LABELS, LABELS), ValueError, r"num_classes: required when predictions are class indices, got None"),
    ("binary-accuracy-shape", "metrics", lambda: metrics.binary_accuracy(jnp.zeros((4, 1)), jnp.zeros(4)), ValueError, r"targets: expected shape \(4, 1\).*got \(4,\)"),
    ("metric-unknown", "metrics", lambda: metrics.get("nope"), ValueError, r"metric: expected a callable, one of \[.*" + NOPE),
    ("sgd-negative-lr", "optimizers", lambda: optimizers.sgd(-0.1), ValueError, r"sgd: expected lr > 0, got -0.1"),
    ("sgd-lr-type", "optimizers", lambda: optimizers.sgd("fast"), TypeError, r"lr to be a positive number or a schedule.*got 'fast'"),
    ("momentum-mu", "optimizers", lambda: optimizers.momentum(0.1, mu=1.5), ValueError, r"mu in \[0, 1\), got 1.5"),
    ("momentum-convention", "optimizers", lambda: optimizers.momentum(0.1, convention="keras"), ValueError, r"convention 'optax' .* or 'deck' .*got 'keras'"),
    ("adam-b1", "optimizers", lambda: optimizers.adam(b1=1.0), ValueError, r"b1 in \[0, 1\), got 1.0"),
    ("optimizer-unknown", "optimizers", lambda: optimizers.get("nope"), ValueError, r"optimizer name in \[.*" + NOPE),
    ("clip-optimizer", "optimizers", lambda: optimizers.clip("sgd", 1.0), TypeError, r"optimizer to be an optax.GradientTransformation, got str"),
    ("clip-max-norm", "optimizers", lambda: optimizers.clip(optax.sgd(0.1), 0.0), ValueError, r"max_norm > 0, got 0.0"),
    ("inverse-time-lr0", "schedules", lambda: schedules.inverse_time(-1.0), ValueError, r"lr0 > 0, got -1.0"),
    ("inverse-time-type", "schedules", lambda: schedules.inverse_time("fast"), TypeError, r"lr0 to be a number, got 'fast'"),
    ("inverse-sqrt-zero", "schedules", lambda: schedules.inverse_sqrt(0.0), ValueError, r"lr0 > 0, got 0.0"),
    ("step-decay-every", "schedules", lambda: schedules.step_decay(0.1, every_steps=0), ValueError, r"every_steps to be a positive int, got 0"),
    ("l2-negative", "regularizers", lambda: regularizers.l2(-1.0), ValueError, r"coef to be a number >= 0, got -1.0"),
    ("l2-n-zero", "regularizers", lambda: regularizers.l2(0.1, n=0), ValueError, r"n \(the number of training examples\) to be a positive number or None, got 0"),
    ("l2-per-layer-unknown", "regularizers", lambda: regularizers.l2(0.1, per_layer={"dense_9/*": 1.0})(mlp()[1].params), ValueError, r"per_layer pattern to match.*got no match for \['dense_9/\*'\]"),
    ("weight-decay-negative", "regularizers", lambda: regularizers.weight_decay(optax.sgd(0.1), -1.0), ValueError, r"wd to be a number >= 0, got -1.0"),
    ("freeze-optimizer", "regularizers", lambda: regularizers.freeze("sgd", "*"), TypeError, r"optimizer to be an optax.GradientTransformation, got str"),
    ("weight-noise-std", "regularizers", lambda: regularizers.add_weight_noise(mlp()[1].params, K, -1.0), ValueError, r"std to be a number >= 0, got -1.0"),
    ("weight-noise-key", "regularizers", lambda: regularizers.add_weight_noise(mlp()[1].params, 0, 0.1), TypeError, r"key: expected one PRNG key.*got int"),
    ("backprop-cost", "backprop", lambda: backprop.backward(mlp()[1].params, X8, Y8, activation="relu", cost="nope"), ValueError, r"cost: expected one of .*" + NOPE),
    ("idx-magic", "data", lambda: read_file(data.read_idx, b"\x01\x02\x08\x01" + bytes(8)), ValueError, r"file: expected IDX magic 0x0000.*got bytes 01 02 08 01"),
    ("idx-truncated", "data", lambda: read_file(data.read_idx, b"\x00\x00\x08\x01\x00\x00\x00\x09" + bytes(3)), ValueError, r"file: truncated IDX payload.*expected 9 bytes, got 3 bytes"),
    ("write-idx-dtype", "data", lambda: data.write_idx("unused.idx", np.ones(3, np.float16)), ValueError, r"array` must have dtype in \{uint8.*got float16"),
    ("load-unknown", "data", lambda: data.load("nope"), ValueError, r"name` must be one of \[.*" + NOPE),
    ("load-name-type", "data", lambda: data.load(3), TypeError, r"name` must be a str.*got int"),
    ("batches-size", "data", lambda: data.batches(X8, Y8, batch_size=0), ValueError, r"batch_size` must be a positive int, got 0"),
    ("batches-lengths", "data", lambda: data.batches(X8, Y8[:5], batch_size=2), ValueError, r"`x` and `y` must have the same length, got 8 and 5"),
    ("batches-key", "data", lambda: data.batches(X8, Y8, batch_size=2, key=0), TypeError, r"key: expected one typed PRNG key.*got int"),
    ("num-batches-n", "data", lambda: data.num_batches(-1, 2), ValueError, r"`n` must be an int >= 0, got -1"),
    ("one-hot-dtype", "data", lambda: data.one_hot(np.zeros(3), 4), ValueError, r"`labels` must have an integer dtype, got float64"),
    ("one-hot-range", "data", lambda: data.one_hot(np.array([0, 4]), 4), ValueError, r"`labels` must be in \[0, 4\), got values in 0..4"),
    ("split-sizes", "data", lambda: data.split(X8, Y8, sizes=(5, 5), seed=0), ValueError, r"`sizes` \(5, 5\) sum to 10, more than the 8 examples"),
    ("val-size", "data", lambda: data.train_val_split(X8, Y8, 9), ValueError, r"`val_size` must be in 0..8.*got 9"),
    ("shuffle-seed", "data", lambda: data.shuffle(X8, Y8, seed="abc"), TypeError, r"`seed` must be an int.*got str"),
    ("scale-range", "data", lambda: data.scale(X8, 1.0, 0.0), ValueError, r"`low` < `high`, got low=1.0, high=0.0"),
    ("flip-p", "data", lambda: data.random_flip(K, IMAGES[0], p=2.0), ValueError, r"p \(the flip probability\) in \[0, 1\], got 2.0"),
    ("rotate-order", "data", lambda: data.rotate(IMAGES[0], 10.0, order=3), ValueError, r"order 0 \(nearest\) or 1 \(bilinear\), got 3"),
    ("augment-rank", "data", lambda: data.augment(K, IMAGES[0], data.random_flip), ValueError, r"images of shape \(N, height, width, channels\), got shape \(4, 4, 1\)"),
    ("augment-key", "data", lambda: data.augment(0, IMAGES, data.random_flip), TypeError, r"key: expected one PRNG key.*got int"),
    ("state-key-int", "fit", lambda: train.init_train_state(models.mlp([4]), optax.sgd(0.1), 0, (1, 3)), TypeError, r"key: expected a typed PRNG key.*got int"),
    ("state-key-float", "fit", lambda: train.init_train_state(models.mlp([4]), optax.sgd(0.1), jnp.zeros(2), (1, 3)), TypeError, r"key: expected a typed PRNG key.*got float32"),
    ("step-model", "fit", lambda: train.make_train_step("mlp", optax.sgd(0.1), losses.softmax_cross_entropy), TypeError, r"model: expected a jdl.nn.Layer.*got str"),
    ("step-optimizer", "fit", lambda: train.make_train_step(mlp()[0], "sgd", losses.softmax_cross_entropy), TypeError, r"optimizer: expected an optax.GradientTransformation, got str"),
    ("step-loss", "fit", lambda: train.make_eval_step(mlp()[0], "nope"), TypeError, r"loss_fn: expected a function.*" + NOPE),
    ("fit-batch-size", "fit", lambda: fit(batch_size=-1), ValueError, r"batch_size: expected a positive int, got -1"),
    ("fit-batch-too-big", "fit", lambda: fit(batch_size=16), ValueError, r"batch_size: expected at most the number of training examples \(8\), got 16"),
    ("fit-not-pair", "fit", lambda: fit(X8), ValueError, r"train_data: expected a pair \(x, y\), got ndarray"),
    ("fit-lengths", "fit", lambda: fit((X8, Y8[:6])), ValueError, r"train_data: expected x and y with the same number of examples, got 8 and 6"),
    ("fit-empty", "fit", lambda: fit((X8[:0], Y8[:0])), ValueError, r"train_data: expected at least one example, got an empty dataset"),
    ("fit-epochs", "fit", lambda: fit(epochs=-1), ValueError, r"epochs: expected an int >= 0, got -1"),
    ("fit-no-eval-step", "fit", lambda: fit(val_data=(X8, Y8)), ValueError, r"eval_step: expected an eval step.*got None"),
    ("fit-nonfinite", "fit", lambda: fit(on_nonfinite="explode"), ValueError, r"on_nonfinite: expected one of \('stop', 'skip', 'ignore'\), got 'explode'"),
    ("fit-steps-per-call", "fit", lambda: fit(steps_per_call=0), ValueError, r"steps_per_call: expected a positive int, got 0"),
    ("fit-devices", "fit", lambda: fit(devices=100), ValueError, r"devices: expected 1\.\.\d+ \(the devices JAX sees\), got 100"),
    ("early-stopping-patience", "fit", lambda: train.EarlyStopping(patience=-1), ValueError, r"patience an int >= 0, got -1"),
    ("early-stopping-mode", "fit", lambda: train.EarlyStopping(mode="up"), ValueError, r"mode: expected 'min', 'max' or 'auto', got 'up'"),
    ("early-stopping-monitor", "fit", lambda: fit(callbacks=[train.EarlyStopping("val_accuracy")]), ValueError, r"monitor to be one of the epoch logs \[.*'loss'\], got 'val_accuracy'"),
    ("plateau-factor", "fit", lambda: train.ReduceLROnPlateau(factor=2.0), ValueError, r"factor in \(0, 1\), got 2.0"),
    ("evaluate-empty", "fit", lambda: train.evaluate(mlp()[1], mlp()[3], (X8[:0], Y8[:0])), ValueError, r"data: expected at least one example, got an empty dataset"),
    ("evaluate-batch-size", "fit", lambda: train.evaluate(mlp()[1], mlp()[3], (X8, Y8), batch_size=0), ValueError, r"batch_size: expected a positive int, got 0"),
    ("predict-empty", "fit", lambda: train.predict(mlp()[0], mlp()[1], X8[:0]), ValueError, r"x: expected at least one example, got an empty dataset"),
    ("predict-other-params", "fit", lambda: train.predict(mlp()[0], mlp()[1]._replace(params=other_params()), X8), ValueError, r"ts.params: expected the tree.*dense_0/b: expected \(5,\), got \(6,\)"),
    ("predict-conv-params", "fit", lambda: train.predict(mlp()[0], conv()[1], X8), ValueError, r"ts.params: expected the tree.*conv_0/b: expected no such path, got \(2,\)"),
    ("predict-x-shape", "fit", lambda: train.predict(mlp()[0], mlp()[1], np.ones((8, 5), np.float32)), ValueError, r"x of shape \(8, 5\).*dense_0/w: expected \(5, 5\), got \(3, 5\)"),
    ("predict-x-rank", "fit", lambda: train.predict(conv()[0], conv()[1], np.ones((2, 4, 4), np.float32)), ValueError, r"x: expected inputs that serial accepts, got shape \(2, 4, 4\).*rank 4"),
    ("population-keys-rank", "populations", lambda: train.init_population(models.mlp([4]), optax.sgd(0.1), jax.random.split(K, (2, 2)), (1, 3)), ValueError, r"keys: expected a 1-D array of typed keys \(N,\), got shape \(2, 2\)"),
    ("population-keys-int", "populations", lambda: train.init_population(models.mlp([4]), optax.sgd(0.1), jnp.arange(3), (1, 3)), TypeError, r"key: expected a typed PRNG key.*got int32"),
    ("hyperparams-no-inject", "populations", lambda: train.set_hyperparams(population(), {"learning_rate": [0.1, 0.2]}), ValueError, r"hyperparams: the optimizer state has no `hyperparams`.*inject_hyperparams"),
    ("member-index", "populations", lambda: train.member(population(), 5), ValueError, r"i: expected a member index in \[0, 2\).*got 5"),
    ("ensemble-lone-run", "populations", lambda: train.ensemble_predict(mlp()[0], mlp()[1], X8), ValueError, r"population: expected a population.*got step of shape \(\)"),
    ("fit-population-lone-run", "populations", lambda: train.fit_population(mlp()[1], mlp()[2], (X8, Y8), epochs=1, batch_size=4, verbose=0), ValueError, r"pop: expected a population.*got step of shape \(\)"),
    ("grid-empty", "populations", lambda: train.grid(learning_rate=[]), ValueError, r"learning_rate=...\): expected a non-empty sequence of values, got \[\]"),
    ("random-search-n", "populations", lambda: train.random_search(K, 0, lr=("log_uniform", 1e-3, 1e-1)), ValueError, r"n: expected a positive int \(members\), got 0"),
    ("random-search-space", "populations", lambda: train.random_search(K, 2, lr=("gaussian", 0, 1)), ValueError, r"lr: expected a tuple whose first item is one of .*got \('gaussian', 0, 1\)"),
    ("random-search-key", "populations", lambda: train.random_search(jnp.zeros(2), 2, lr=("uniform", 0, 1)), TypeError, r"key: expected one PRNG key.*got float32 of shape \(2,\)"),
    ("best-member-monitor", "populations", lambda: train.best_member({"loss": np.ones((1, 2))}, "val_acc"), ValueError, r"monitor: expected one of the history's metrics \['loss'\], got 'val_acc'"),
    ("ckpt-keep", "checkpoints", lambda: checkpoint.CheckpointManager("unused", keep=0), ValueError, r"keep: expected None or an int >= 1, received 0"),
    ("ckpt-mode", "checkpoints", lambda: checkpoint.CheckpointManager("unused", best_mode="median"), ValueError, r"best_mode: expected 'min' or 'max', received 'median'"),
    ("ckpt-best-metric", "checkpoints", lambda: checkpoint.CheckpointManager("unused", best_metric="val_loss").save(mlp()[1], metrics={}), ValueError, r"metrics: expected a value for best_metric 'val_loss', received keys \[\]"),
    ("ckpt-corrupt", "checkpoints", lambda: restore_corrupted_checkpoint(), ValueError, r"checkpoint file .* is corrupted: its sha256 checksum .*\(expected [0-9a-f]{64}, received [0-9a-f]{64}\)"),
    ("weights-garbage", "checkpoints", lambda: read_file(checkpoint.load_weights, b"garbage bytes", {}), ValueError, r"not a jdl weights file: expected magic b'JDLW', received b'garb'"),
    ("weights-truncated", "checkpoints", lambda: read_file(checkpoint.load_weights, truncated_weights, {"a": jnp.ones(3)}), ValueError, r"file truncated or extended: expected 31 payload bytes, received 27"),
    ("weights-other-model", "checkpoints", lambda: read_file(checkpoint.load_weights, lambda d: checkpoint.save_weights(d / "w", other_params()), mlp()[1].params), ValueError, r"does not match target.*\n.*dense_0/b: expected shape \(5,\) float32, received shape \(6,\)"),
    ("extract-path", "transfer", lambda: transfer.extract_features(mlp()[0], mlp()[1].params, mlp()[1].state, "dense_9", X8), ValueError, r"no child 'dense_9'.*children \['flatten', 'dense_0'"),
    ("extract-empty", "transfer", lambda: transfer.extract_features(mlp()[0], mlp()[1].params, mlp()[1].state, "dense_0", X8[:0]), ValueError, r"expected at least one example, got x of length 0"),
    ("extractor-model", "transfer", lambda: transfer.feature_extractor("mlp", {}, {}, "dense_0"), TypeError, r"model to be a jdl.nn.Layer, got str"),
    ("fine-tune-scale", "transfer", lambda: transfer.fine_tune_optimizer(optax.sgd(0.1), pretrained_lr_scale=-1.0), ValueError, r"pretrained_lr_scale to be a number >= 0, got -1.0"),
    ("fine-tune-both", "transfer", lambda: transfer.fine_tune_optimizer(optax.sgd(0.1), pretrained="a/*", head="b/*"), ValueError, r"expected pretrained or head, not both"),
    ("transplant-shapes", "transfer", lambda: transfer.transplant(other_params(), mlp()[1].params), ValueError, r"pretrained tensor to have the new model's shape, got 3 mismatch"),
    ("pretrained-garbage", "transfer", lambda: read_file(transfer.load_pretrained, b"garbage", mlp()[0], (1, 3)), ValueError, r"not a jdl weights file: expected magic b'JDLW', received b'garb'"),
    ("feature-maps-path", "viz", lambda: viz.feature_maps(mlp()[0], mlp()[1].params, mlp()[1].state, X8, "dense_9"), ValueError, r"no child 'dense_9'.*children \['flatten', 'dense_0'"),
    ("saliency-label", "viz", lambda: viz.saliency(conv()[0], conv()[1].params, conv()[1].state, IMAGES, 7), ValueError, r"label: expected class indices in \[0, 4\), got"),
    ("gram-rank", "viz", lambda: viz.gram_matrix(jnp.ones((3, 3))), ValueError, r"features: expected feature maps \(B, H, W, C\) or \(H, W, C\), got shape \(3, 3\)"),
    ("history-empty", "viz", lambda: viz.plot_history({}, "unused.png"), ValueError, r"history: expected at least one metric to plot, got keys \[\]"),
    ("confusion-square", "viz", lambda: viz.plot_confusion_matrix(np.ones((2, 3)), "unused.png"), ValueError, r"matrix: expected a square \(K, K\) confusion matrix, got shape \(2, 3\)"),
    ("class-model-l2", "viz", lambda: viz.class_model(conv()[0], conv()[1].params, conv()[1].state, 0, (1, 4, 4, 1), l2=-1.0), ValueError, r"l2: expected a non-negative penalty weight, got -1.0"),
    ("filters-rank", "viz", lambda: viz.plot_filters(np.ones((3, 3)), "unused.png"), ValueError, r"weights: expected conv kernels of shape \(kh, kw, c_in, c_out\).*got shape \(3, 3\)"),
]


@pytest.mark.parametrize("case_id, area, call, error, pattern", CASES, ids=[c[0] for c in CASES])
def test_wrong_call_raises_a_message_naming_argument_expected_and_received(case_id, area, call,
                                                                        error, pattern):
    with pytest.raises(error) as info:
        call()
    assert re.search(pattern, str(info.value)), f"{case_id}: {info.value}"


def test_the_matrix_is_large_unique_and_covers_the_api():
    ids = [c[0] for c in CASES]
    assert len(CASES) >= 60 and len(set(ids)) == len(ids)
    assert {c[1] for c in CASES} <= set(AREAS)
    assert len({c[1] for c in CASES}) >= 8
    assert all(c[3] in (ValueError, TypeError) for c in CASES)


def _calls() -> list[str]:
    """The source of each case's wrong call (its lambda's body), read from this file."""
    text = HERE.read_text()
    table = next(n.value for n in ast.parse(text).body
                 if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CASES")
    return [ast.get_source_segment(text, row.elts[2].body) for row in table.elts]


def test_the_docs_table_lists_every_case_in_order():
    rows = [[c.strip().strip("`") for c in line.strip("| ").split(" | ")[:3]]
            for line in DOC.read_text().splitlines() if line.startswith("| `")]
    assert rows == [[c[0], c[1], source.replace("|", "\\|")]
                    for c, source in zip(CASES, _calls())]


def doc_table() -> str:
    """The markdown table of docs/bad-inputs.md: each case run, its real message shortened."""
    lines = ["| id | area | the wrong call | error |", "|---|---|---|---|"]
    for (case_id, area, call, _, _), source in zip(CASES, _calls()):
        try:
            call()
            raise AssertionError(f"{case_id} raised nothing")
        except (ValueError, TypeError) as e:
            base = "ValueError" if isinstance(e, ValueError) else "TypeError"
            kind = base if type(e).__name__ == base else f"{type(e).__name__} (a {base})"
            text = re.sub(re.escape(tempfile.gettempdir()) + r"/\w+/", "…/", " ".join(
                line.strip() for line in str(e).splitlines()[:2]))
        message = f"{kind}: {text}" if len(text) <= 150 else f"{kind}: {text[:149]}…"
        cells = [f"`{case_id}`", area, f"`{source}`", f"`` {message} ``"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(doc_table())
