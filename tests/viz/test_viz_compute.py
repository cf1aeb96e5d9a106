"""jdl.viz computations (CURRICULUM ch. 8, deck 003) against independent references: Gram
matrices and losses by hand in numpy, feature maps by applying the layers by hand, saliency of
a linear model (the weight row) and per-image jax.grad, the class model of a linear model in
closed form, and style transfer's loss by hand. Tiny models, few compiled shapes."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jdl import nn, viz

RNG = np.random.default_rng(0)
X = RNG.uniform(size=(2, 8, 8, 3)).astype(np.float32)  # two 8x8 RGB images


def _init(model, input_shape, seed):
    """Params with the shapes `init` declares (eval_shape: nothing compiled), drawn in numpy:
    N(0, 1/fan_in) weights, biases 0.05 (a random ReLU net with zero biases is dead at 0)."""
    _, params, state = jax.eval_shape(lambda k: model.init(k, input_shape), jax.random.key(0))
    rng = np.random.default_rng(seed)

    def draw(leaf):
        if len(leaf.shape) == 1:
            return np.full(leaf.shape, 0.05, np.float32)
        fan_in = int(np.prod(leaf.shape[:-1]))
        return (rng.normal(size=leaf.shape) / np.sqrt(fan_in)).astype(np.float32)

    return jax.tree.map(draw, params), jax.tree.map(lambda l: np.zeros(l.shape, l.dtype), state)


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.fixture(scope="module")
def cnn():
    """conv3x3(4)-relu-maxpool2-conv3x3(8)-relu | flatten-dense(3), nested paths."""
    model = nn.serial(
        ("features", nn.serial(("conv1", nn.Conv(4, 3)), ("relu1", nn.Relu()), ("pool1", nn.MaxPool(2)),
                               ("conv2", nn.Conv(8, 3)), ("relu2", nn.Relu()))),
        ("classifier", nn.serial(("flatten", nn.Flatten()), ("fc", nn.Dense(3)))))
    return (model, *_init(model, (1, 8, 8, 3), 0))


@pytest.fixture(scope="module")
def linear():
    """Flatten + Dense(3) on 4x4x2 images: S_c(x) = x.flat @ W[:, c] + b[c]."""
    model = nn.serial(("flatten", nn.Flatten()), ("fc", nn.Dense(3)))
    return (model, *_init(model, (1, 4, 4, 2), 1))


def _conv_same(x, w, b):  # cross-correlation, SAME padding, stride 1, in numpy
    kh, kw = w.shape[:2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:3] + (w.shape[-1],))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            out[:, i, j] = np.einsum("bhwc,hwco->bo", xp[:, i:i + kh, j:j + kw], w)
    return out + b


def _forward_np(params, x):
    """The cnn fixture's layers by hand in numpy: {path: output}."""
    p = {k: {n: np.asarray(v) for n, v in d.items()} for k, d in params["features"].items()}
    out = {"features/conv1": _conv_same(x, p["conv1"]["w"], p["conv1"]["b"])}
    out["features/relu1"] = np.maximum(out["features/conv1"], 0)
    b, h, w, c = out["features/relu1"].shape
    out["features/pool1"] = out["features/relu1"].reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    out["features/conv2"] = _conv_same(out["features/pool1"], p["conv2"]["w"], p["conv2"]["b"])
    out["features/relu2"] = np.maximum(out["features/conv2"], 0)
    out["classifier/flatten"] = out["features/relu2"].reshape(b, -1)
    fc = params["classifier"]["fc"]
    if out["classifier/flatten"].shape[1] == fc["w"].shape[0]:  # 8x8 inputs only
        out["classifier/fc"] = (out["classifier/flatten"] @ np.asarray(fc["w"])
                                + np.asarray(fc["b"]))
    return out


# ---------------------------------------------------------------- style transfer losses

def test_gram_matrix_by_hand():
    f = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    ref = np.zeros((2, 5, 5))
    for b in range(2):
        for i in range(3):
            for j in range(4):
                ref[b] += np.outer(f[b, i, j], f[b, i, j])
    ref /= 3 * 4  # normalized by the number of positions M = H W
    g = viz.gram_matrix(f)
    assert g.shape == (2, 5, 5)
    close(g, ref)
    close(viz.gram_matrix(f[1]), ref[1])  # one image (H, W, C) -> (C, C)
    close(g, np.swapaxes(np.asarray(g), 1, 2))
    with pytest.raises(ValueError, match=r"features: expected feature maps .* got shape \(4, 5\)"):
        viz.gram_matrix(f[0, 0])


def test_content_loss_and_total_variation_by_hand():
    f = RNG.normal(size=(2, 3, 3, 4)).astype(np.float32)
    p = RNG.normal(size=(1, 3, 3, 4)).astype(np.float32)
    close(viz.content_loss(f, p), [0.5 * np.sum((f[b] - p[0]) ** 2) for b in range(2)])
    close(viz.content_loss(f, f), [0.0, 0.0])
    tv = [sum((f[b, i + 1, j, c] - f[b, i, j, c]) ** 2 for i in range(2) for j in range(3) for c in range(4))
          + sum((f[b, i, j + 1, c] - f[b, i, j, c]) ** 2 for i in range(3) for j in range(2) for c in range(4))
          for b in range(2)]
    close(viz.total_variation(f), tv, 1e-4)
    with pytest.raises(ValueError, match=r"target: expected shape \(2, 3, 3, 4\).* got \(1, 3, 3, 5\)"):
        viz.content_loss(f, np.zeros((1, 3, 3, 5)))
    with pytest.raises(ValueError, match=r"images: expected \(B, H, W, C\), got shape \(3, 3, 4\)"):
        viz.total_variation(f[0])


def test_style_loss_is_gatys_with_unnormalized_grams():
    """E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2 with G = F^T F unnormalized (Gatys et al. eq. 4)."""
    shapes = [(2, 4, 4, 3), (2, 2, 2, 5)]
    gen = [RNG.normal(size=s).astype(np.float32) for s in shapes]
    sty = [RNG.normal(size=(1,) + s[1:]).astype(np.float32) for s in shapes]
    weights = [0.3, 0.7]
    ref = np.zeros(2)
    for f, s, w in zip(gen, sty, weights):
        n, m = f.shape[-1], f.shape[1] * f.shape[2]
        for b in range(2):
            g = f[b].reshape(m, n).T @ f[b].reshape(m, n)
            a = s[0].reshape(m, n).T @ s[0].reshape(m, n)
            ref[b] += w * np.sum((g - a) ** 2) / (4 * n**2 * m**2)
    targets = [viz.gram_matrix(s) for s in sty]
    close(viz.style_loss(gen, targets, weights), ref, 1e-4)
    # default weights 1 / L
    close(viz.style_loss(gen, targets), viz.style_loss(gen, targets, [0.5, 0.5]))
    with pytest.raises(ValueError, match=r"targets: expected one Gram matrix per feature map \(2\), got 1"):
        viz.style_loss(gen, targets[:1])
    with pytest.raises(ValueError, match=r"weights: expected one weight per layer \(2\), got 3"):
        viz.style_loss(gen, targets, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"targets\[0\]: expected a Gram matrix of shape \(1, 3, 3\)"):
        viz.style_loss(gen, targets[::-1])


# ---------------------------------------------------------------- feature maps

def test_feature_maps_equal_the_layers_applied_by_hand(cnn):
    model, params, state = cnn
    ref = _forward_np(params, X)
    pool1 = ref["features/pool1"]
    close(viz.feature_maps(model, params, state, X, "features/relu1"), ref["features/relu1"], 1e-4)
    close(viz.feature_maps(model, params, state, X, "features/pool1"), pool1, 1e-4)
    close(viz.feature_maps(model, params, state, X, "classifier/flatten"), ref["classifier/flatten"], 1e-4)
    one = viz.feature_maps(model, params, state, X[1], "features/pool1")  # one image: no batch axis
    assert one.shape == (4, 4, 4)
    close(one, pool1[1], 1e-4)
    # inside jit, with the model and path closed over
    jitted = jax.jit(lambda p, s, x: viz.feature_maps(model, p, s, x, "features/pool1"))
    close(jitted(params, state, X), pool1, 1e-4)
    with pytest.raises(ValueError, match=r"cut: no child 'conv9'"):
        viz.feature_maps(model, params, state, X, "features/conv9")


# ---------------------------------------------------------------- saliency

def test_saliency_of_a_linear_model_is_its_weight_row(linear):
    model, params, state = linear
    w = np.asarray(params["fc"]["w"]).reshape(4, 4, 2, 3)  # dS_c/dx = W[:, c]
    x = RNG.normal(size=(2, 4, 4, 2)).astype(np.float32)
    close(viz.saliency(model, params, state, x[0], 1), np.abs(w[..., 1]).max(axis=-1))
    got = viz.saliency(model, params, state, x, jnp.array([2, 0]))
    assert got.shape == (2, 4, 4)
    close(got[0], np.abs(w[..., 2]).max(axis=-1))
    close(got[1], np.abs(w[..., 0]).max(axis=-1))
    # and by central finite differences of the score at one pixel
    eps = 1e-2
    e = np.zeros_like(x[:1]); e[0, 1, 2, 1] = eps
    score = lambda z: model.apply(params, state, z)[0][0, 2]  # noqa: E731
    close(abs(score(x[:1] + e) - score(x[:1] - e)) / (2 * eps), abs(w[1, 2, 1, 2]), 1e-3)


def test_saliency_equals_per_image_gradient(cnn):
    model, params, state = cnn
    labels = np.array([2, 1])
    got = viz.saliency(model, params, state, X, labels)
    grad = jax.jit(jax.grad(lambda z, c: model.apply(params, state, z[None])[0][0, c]))
    for b in range(2):  # one image at a time
        close(got[b], jnp.max(jnp.abs(grad(X[b], labels[b])), axis=-1))
    assert np.all(np.asarray(got) >= 0)


def test_saliency_errors(cnn, linear):
    model, params, state = cnn
    with pytest.raises(ValueError, match=r"label: expected class indices in \[0, 3\), got \[3, 3\]"):
        viz.saliency(model, params, state, X, 3)
    with pytest.raises(ValueError, match=r"label: expected an int or shape \(2,\).* got shape \(3,\)"):
        viz.saliency(model, params, state, X, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"label: expected integer class indices, got dtype float32"):
        viz.saliency(model, params, state, X, np.float32(1.0))
    with pytest.raises(ValueError, match=r"x: expected one image \(H, W, C\) or a batch .* got shape \(8, 8\)"):
        viz.saliency(model, params, state, X[0, :, :, 0], 0)
    features = nn.cut(model, "features")
    with pytest.raises(ValueError, match=r"model: expected class scores of shape \(batch, classes\), got "
                                         r"output shape \(2, 4, 4, 8\)"):
        viz.saliency(features, params, state, X, 0)


# ---------------------------------------------------------------- class model

def test_class_model_of_a_linear_model_in_closed_form(linear):
    """argmax_x w.x + b - l2 |x|^2 = w / (2 l2); SGD with lr 0.5, l2 0.5 halves the gap each step."""
    model, params, state = linear
    w = np.asarray(params["fc"]["w"])[:, 1].reshape(4, 4, 2)
    b = float(params["fc"]["b"][1])
    image, hist = viz.class_model(model, params, state, 1, (1, 4, 4, 2), steps=30, l2=0.5,
                                  optimizer=optax.sgd(0.5))
    assert image.shape == (1, 4, 4, 2)
    assert hist["score"].shape == hist["objective"].shape == (31, 1)
    close(image[0], w / (2 * 0.5))
    close(hist["score"][0], [b])  # row 0: the zero image
    close(hist["objective"][-1], [np.sum(w**2) / (4 * 0.5) + b])
    t = np.arange(31)
    close(hist["score"][:, 0], (1 - 0.5**t) * np.sum(w**2) + b)  # x_t = (1 - 2^-t) w


def test_class_model_increases_the_class_scores(cnn):
    model, params, state = cnn
    images, hist = viz.class_model(model, params, state, jnp.arange(3), (3, 8, 8, 3), steps=25,
                                   learning_rate=0.05, key=jax.random.key(3), clip=(-1.0, 1.0))
    assert images.shape == (3, 8, 8, 3) and hist["score"].shape == (26, 3)
    assert np.all(np.asarray(hist["score"][-1]) > np.asarray(hist["score"][0]) + 0.1)
    assert np.all(np.asarray(hist["objective"][-1]) > np.asarray(hist["objective"][0]))
    scores = _forward_np(params, np.asarray(images))["classifier/fc"]  # the history's last row
    close(np.diag(scores), hist["score"][-1], 1e-4)
    assert float(jnp.max(jnp.abs(images))) <= 1.0
    # each image is best for its own class among the three
    assert np.all(np.argmax(scores, axis=1) == np.arange(3))


def test_class_model_errors(cnn):
    model, params, state = cnn
    with pytest.raises(ValueError, match=r"init: expected shape input_shape=\(1, 8, 8, 3\), got \(8, 8, 3\)"):
        viz.class_model(model, params, state, 0, (1, 8, 8, 3), init=np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match=r"input_shape: expected \(batch, \.\.\.\)"):
        viz.class_model(model, params, state, 0, (8,))
    with pytest.raises(ValueError, match=r"steps: expected a non-negative int, got -1"):
        viz.class_model(model, params, state, 0, (1, 8, 8, 3), steps=-1)
    with pytest.raises(ValueError, match=r"label: expected class indices in \[0, 3\), got \[5\]"):
        viz.class_model(model, params, state, 5, (1, 8, 8, 3))
    with pytest.raises(ValueError, match=r"clip: expected low < high"):
        viz.class_model(model, params, state, 0, (1, 8, 8, 3), clip=(1, 0))


# ---------------------------------------------------------------- style transfer

def test_style_transfer_decreases_the_loss_from_the_hand_computed_start(cnn):
    model, params, state = cnn
    layers = ["features/relu1", "features/relu2"]
    style = X[1, :6, :6]  # a smaller style image: Gram matrices do not depend on the size
    image, hist = viz.style_transfer(model, params, state, X[0], style, content_layer="features/conv2",
                                     style_layers=layers, style_weights=[0.25, 0.75], steps=20,
                                     learning_rate=0.02, style_weight=1e4, tv_weight=1e-4)
    assert image.shape == (8, 8, 3)  # one image in, one image out
    assert all(h.shape == (21,) for h in hist.values())
    # row 0 by hand: the init is the content image, so the content term is zero
    feats, style_feats = _forward_np(params, X[:1]), _forward_np(params, style[None])
    gram = lambda f: np.einsum("ijc,ijd->cd", f[0], f[0]) / (f.shape[1] * f.shape[2])  # noqa: E731
    ls = sum(w * np.sum((gram(feats[p]) - gram(style_feats[p]))**2) / (4 * feats[p].shape[-1] ** 2)
             for p, w in zip(layers, [0.25, 0.75]))
    tv = np.sum(np.diff(X[0], axis=0) ** 2) + np.sum(np.diff(X[0], axis=1) ** 2)
    close(hist["content"][0], 0.0)
    close(hist["style"][0], ls, 1e-4)
    close(hist["tv"][0], tv, 1e-4)
    close(hist["loss"][0], 1e4 * ls + 1e-4 * tv, 1e-4)
    loss, sty = np.asarray(hist["loss"]), np.asarray(hist["style"])
    assert loss[-1] < 0.7 * loss[0] and sty[-1] < 0.7 * sty[0]
    assert hist["content"][-1] > 0  # the image left the content to gain style


def test_style_transfer_content_only(cnn):
    """Column 0 starts at the content image (nothing to do), column 1 from noise (it converges)."""
    model, params, state = cnn
    noise = RNG.uniform(size=(8, 8, 3)).astype(np.float32)
    image, hist = viz.style_transfer(model, params, state, np.stack([X[0], X[0]]), X[1],
                                     init=np.stack([X[0], noise]), content_layer="features/conv2",
                                     style_layers=[], style_weight=0.0, steps=15, learning_rate=0.05)
    assert image.shape == (2, 8, 8, 3) and hist["loss"].shape == (16, 2)
    close(hist["loss"][:, 0], np.zeros(16))
    close(image[0], X[0])
    loss = np.asarray(hist["loss"][:, 1])
    assert loss[0] > 0 and loss[-1] < 0.5 * loss[0]
    close(hist["style"], np.zeros((16, 2)))


def test_style_transfer_errors(cnn):
    model, params, state = cnn
    kw = dict(content_layer="features/conv2", style_layers=["features/relu1"], steps=1)
    with pytest.raises(ValueError, match=r"style: expected 3 channels \(the content's\), got shape \(1, 8, 8, 1\)"):
        viz.style_transfer(model, params, state, X[0], X[0, ..., :1], **kw)
    with pytest.raises(ValueError, match=r"style: expected one style image or one per content image \(1\)"):
        viz.style_transfer(model, params, state, X[0], X, **kw)
    with pytest.raises(ValueError, match=r"style_layers: expected a sequence of layer paths"):
        viz.style_transfer(model, params, state, X[0], X[1], content_layer="features/conv2",
                           style_layers="features/relu1")
    with pytest.raises(ValueError, match=r"style_weights: expected one weight per style layer \(1\), got 2"):
        viz.style_transfer(model, params, state, X[0], X[1], style_weights=[1.0, 2.0], **kw)
    with pytest.raises(ValueError, match=r"init: expected the content's shape \(8, 8, 3\), got \(4, 4, 3\)"):
        viz.style_transfer(model, params, state, X[0], X[1], init=X[0, :4, :4], **kw)
    with pytest.raises(ValueError, match=r"content: expected one image .* got shape \(8, 8\)"):
        viz.style_transfer(model, params, state, X[0, ..., 0], X[1], **kw)
    with pytest.raises(ValueError, match=r"cut: no child 'conv7'"):
        viz.style_transfer(model, params, state, X[0], X[1], content_layer="features/conv7",
                           style_layers=[], steps=1)
