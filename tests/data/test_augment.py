"""`jdl.data` augmentation: each transformation against an independent reference (NumPy by
hand, `scipy.ndimage.rotate`), determinism per key, jit(vmap), the composer, the Layer wrapper."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.ndimage as ndi

from jdl import data, losses, nn
from jdl.train import init_train_state, make_train_step

RNG = np.random.default_rng(0)
IMG = RNG.random((6, 8, 3)).astype(np.float32)      # non-square: rows and columns differ
SQUARE = RNG.random((7, 7, 2)).astype(np.float32)
KEYS = jax.random.split(jax.random.key(1), 64)

# Every random transformation with parameters that make it non-trivial.
RANDOM_FNS = {
    "flip": partial(data.random_flip, horizontal=True, vertical=True),
    "crop": partial(data.random_crop, padding=2),
    "translate": partial(data.random_translate, max_shift=2),
    "rotation": partial(data.random_rotation, max_degrees=30.0),
    "brightness": partial(data.random_brightness, max_delta=0.2),
    "contrast": partial(data.random_contrast, lower=0.5, upper=1.5),
    "rgb_intensity": partial(data.random_rgb_intensity, std=0.5),
    "noise": partial(data.additive_noise, std=0.1),
}


def shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Hand translation: np.roll, then zero the rows/columns that wrapped around."""
    h, w = img.shape[:2]
    out = np.roll(img, (dy, dx), axis=(0, 1))
    if abs(dy) >= h or abs(dx) >= w:
        return np.zeros_like(img)
    if dy > 0:
        out[:dy] = 0
    elif dy < 0:
        out[h + dy:] = 0
    if dx > 0:
        out[:, :dx] = 0
    elif dx < 0:
        out[:, w + dx:] = 0
    return out


# ---- flips -------------------------------------------------------------------------------

def test_flip_with_p_one_and_zero_against_jnp_flip(key):
    np.testing.assert_array_equal(data.random_flip(key, IMG, p=1.0), jnp.flip(IMG, 1))
    np.testing.assert_array_equal(data.random_flip(key, IMG, horizontal=False, vertical=True,
                                                   p=1.0), jnp.flip(IMG, 0))
    np.testing.assert_array_equal(data.random_flip(key, IMG, vertical=True, p=1.0),
                                  IMG[::-1, ::-1])
    np.testing.assert_array_equal(data.random_flip(key, IMG, vertical=True, p=0.0), IMG)


def test_flip_half_the_time():
    flip = jax.jit(data.random_flip)
    outs = [np.asarray(flip(k, IMG)) for k in KEYS]
    flipped = [np.array_equal(o, IMG[:, ::-1]) for o in outs]
    assert all(f or np.array_equal(o, IMG) for f, o in zip(flipped, outs))
    assert 16 < sum(flipped) < 48  # Bernoulli(0.5) over 64 keys


# ---- crop and translation ----------------------------------------------------------------------

def test_crop_with_padding_zero_is_identity():
    for k in KEYS[:8]:
        np.testing.assert_array_equal(data.random_crop(k, IMG, 0), IMG)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_crop_is_a_window_of_the_padded_image(mode):
    p = 2
    padded = np.pad(IMG, ((p, p), (p, p), (0, 0)), mode=mode)
    crop, seen = jax.jit(partial(data.random_crop, padding=p, mode=mode)), set()
    for k in KEYS:
        out = np.asarray(crop(k, IMG))
        hits = [(oy, ox) for oy in range(2 * p + 1) for ox in range(2 * p + 1)
                if np.array_equal(out, padded[oy:oy + 6, ox:ox + 8])]
        assert hits, "the crop is no window of the hand-padded image"
        seen.add(hits[0])
    assert len(seen) > 10  # many of the 25 offsets are drawn


@pytest.mark.parametrize("dy,dx", [(0, 0), (2, 3), (-1, 2), (3, -4), (-5, -7), (6, 0), (0, -9)])
def test_translate_against_hand_roll(dy, dx):
    np.testing.assert_array_equal(data.translate(IMG, dy, dx), shifted(IMG, dy, dx))


def test_translate_fill_and_uint8():
    img = (IMG * 255).astype(np.uint8)
    out = data.translate(img, 1, -2, fill=7)
    assert out.dtype == jnp.uint8
    ref = shifted(img, 1, -2)
    ref[:1] = 7
    ref[:, -2:] = 7
    np.testing.assert_array_equal(out, ref)


def test_random_translate_draws_every_shift_in_range():
    move, seen = jax.jit(partial(data.random_translate, max_shift=1)), set()
    for k in KEYS:
        out = np.asarray(move(k, IMG))
        hits = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                if np.array_equal(out, shifted(IMG, dy, dx))]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) == 9
    np.testing.assert_array_equal(data.random_translate(KEYS[0], IMG, (0, 0)), IMG)


def test_crop_with_zero_fill_is_a_translation():
    crop = jax.jit(partial(data.random_crop, padding=2))
    for k in KEYS[:16]:
        out = np.asarray(crop(k, IMG))
        assert any(np.array_equal(out, shifted(IMG, dy, dx))
                   for dy in range(-2, 3) for dx in range(-2, 3))


# ---- rotation -----------------------------------------------------------------------------

def test_rotation_by_zero_is_identity(key):
    np.testing.assert_allclose(data.rotate(IMG, 0.0), IMG, atol=1e-6)
    np.testing.assert_allclose(data.random_rotation(key, IMG, 0.0), IMG, atol=1e-6)


def test_rotation_by_90_matches_rot90_on_a_square_image():
    ref = np.rot90(SQUARE)  # counter-clockwise, in the (rows, columns) plane
    out = np.asarray(data.rotate(SQUARE, 90.0))
    np.testing.assert_allclose(out[1:-1, 1:-1], ref[1:-1, 1:-1], atol=1e-5)  # interior
    np.testing.assert_allclose(out, ref, atol=1e-5)                          # and the border
    np.testing.assert_allclose(data.rotate(SQUARE, -90.0), np.rot90(SQUARE, -1), atol=1e-5)
    u8 = (SQUARE * 255).astype(np.uint8)
    np.testing.assert_array_equal(data.rotate(u8, 90.0), np.rot90(u8))


@pytest.mark.parametrize("degrees", [12.5, -30.0, 135.0])
def test_rotation_against_scipy_bilinear(degrees):
    # scipy's "grid-constant" pads with cval and interpolates there too, as map_coordinates does.
    ref = ndi.rotate(IMG, degrees, reshape=False, order=1, mode="grid-constant", cval=0.0)
    np.testing.assert_allclose(data.rotate(IMG, degrees), ref, atol=1e-5)


def test_random_rotation_angle_in_range():
    angles = np.linspace(-10, 10, 201)
    references = np.asarray(jax.jit(jax.vmap(lambda a: data.rotate(IMG, a)))(angles))
    for k in KEYS[:6]:
        out = np.asarray(data.random_rotation(k, IMG, 10.0))
        errors = np.abs(references - out).max(axis=(1, 2, 3))
        assert min(errors) < 0.05  # some angle in [-10, 10] (to the 0.1 degree grid) explains it


# ---- photometric -------------------------------------------------------------------------------

def test_brightness_by_hand(key):
    delta = float(jax.random.uniform(key, (), jnp.float32, -0.3, 0.3))
    np.testing.assert_allclose(data.random_brightness(key, IMG, 0.3), IMG + delta, rtol=1e-6)
    brighten = jax.jit(partial(data.random_brightness, max_delta=0.3))
    for k in KEYS[:16]:
        diff = np.asarray(brighten(k, IMG)) - IMG
        np.testing.assert_allclose(diff, diff[0, 0, 0], atol=1e-6)  # one delta for all pixels
        assert abs(diff[0, 0, 0]) <= 0.3 + 1e-6


def test_contrast_by_hand(key):
    f = float(jax.random.uniform(key, (), jnp.float32, 0.5, 1.5))
    mean = IMG.mean(axis=(0, 1), keepdims=True)
    np.testing.assert_allclose(data.random_contrast(key, IMG, 0.5, 1.5), (IMG - mean) * f + mean,
                               rtol=1e-5, atol=1e-6)
    contrast = jax.jit(partial(data.random_contrast, lower=0.5, upper=1.5))
    for k in KEYS[:16]:
        out = np.asarray(contrast(k, IMG))
        np.testing.assert_allclose(out.mean(axis=(0, 1)), IMG.mean(axis=(0, 1)), atol=1e-5)
        ratio = (out - mean) / (IMG - mean)
        np.testing.assert_allclose(ratio, ratio[0, 0, 0], rtol=1e-3)
        assert 0.5 - 1e-6 <= ratio[0, 0, 0] <= 1.5 + 1e-6


def test_rgb_pca_of_perfectly_correlated_colours():
    direction = np.array([1.0, 2.0, 2.0]) / 3.0  # unit vector
    c = RNG.normal(size=(50, 4, 4, 1))
    vals, vecs = data.rgb_pca(c * direction)
    np.testing.assert_allclose(vals[0], np.var(c, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(vals[1:], 0.0, atol=1e-6)
    np.testing.assert_allclose(np.abs(vecs[:, 0]), direction, atol=1e-6)


def test_rgb_intensity_adds_one_colour_along_the_principal_components(key):
    vals, vecs = data.IMAGENET_PCA
    alpha = 0.1 * np.asarray(jax.random.normal(key, (3,), jnp.float32))
    shift = vecs @ (alpha * vals)  # AlexNet: [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T
    np.testing.assert_allclose(data.random_rgb_intensity(key, IMG), IMG + shift, atol=1e-6)
    # one principal direction: the shift is parallel to it
    pca = data.rgb_pca(RNG.normal(size=(20, 3, 3, 1)) * np.array([1.0, 2.0, 2.0]))
    diff = np.asarray(data.random_rgb_intensity(key, IMG, 1.0, pca)) - IMG
    np.testing.assert_allclose(np.cross(diff[0, 0], [1.0, 2.0, 2.0]), 0.0, atol=1e-5)
    one = IMG[..., :1]
    p1 = data.rgb_pca(one[None])
    d1 = np.asarray(data.random_rgb_intensity(key, one, 0.1, p1)) - one
    np.testing.assert_allclose(d1, d1[0, 0, 0], atol=1e-7)  # one channel: a brightness shift
    with pytest.raises(ValueError, match="expected 3 channels for the default IMAGENET_PCA"):
        data.random_rgb_intensity(key, one)


def test_additive_noise_statistics(key):
    big = np.zeros((64, 64, 3), np.float32)
    noise = np.asarray(data.additive_noise(key, big, 0.5))
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 0.5) < 0.02
    np.testing.assert_array_equal(data.additive_noise(key, IMG, 0.0), IMG)


# ---- keys, jit and vmap -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(RANDOM_FNS))
def test_same_key_same_output_different_keys_differ(name):
    fn = RANDOM_FNS[name]
    a, b = fn(KEYS[0], IMG), fn(KEYS[0], IMG)
    np.testing.assert_array_equal(a, b)
    assert a.shape == IMG.shape and a.dtype == IMG.dtype
    outs = {np.asarray(jax.jit(fn)(k, IMG)).tobytes() for k in KEYS[:16]}
    assert len(outs) > 1


@pytest.mark.parametrize("name", sorted(RANDOM_FNS))
def test_jit_vmap_equals_a_loop(name):
    fn = RANDOM_FNS[name]
    images = np.stack([IMG + i for i in range(8)])
    batched = jax.jit(jax.vmap(fn))(KEYS[:8], images)
    looped = np.stack([np.asarray(fn(k, x)) for k, x in zip(KEYS[:8], images)])  # eager
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-5)


def test_hyper_parameter_may_be_traced():
    out = jax.jit(lambda k, d: data.random_rotation(k, IMG, d))(KEYS[0], 0.0)
    np.testing.assert_allclose(out, IMG, atol=1e-6)


# ---- composer ------------------------------------------------------------------------------

def test_augment_splits_one_key_per_example_and_folds_in_per_function(key):
    fns = (partial(data.random_flip, p=0.5), partial(data.random_brightness, max_delta=0.5))
    images = np.stack([IMG] * 8)
    out = np.asarray(jax.jit(data.make_augmentation(*fns))(key, images))
    for i, k in enumerate(jax.random.split(key, 8)):
        ref = fns[1](jax.random.fold_in(k, 1), fns[0](jax.random.fold_in(k, 0), images[i]))
        np.testing.assert_allclose(out[i], ref, rtol=1e-6)
    assert len({out[i].tobytes() for i in range(8)}) > 1  # examples differ
    np.testing.assert_array_equal(data.augment(key, images, *fns), out)
    np.testing.assert_array_equal(data.augment(key, images), images)  # no functions: identity


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"random_flip: expected one image of shape \(height, "
                                         r"width, channels\), got shape \(2, 6, 8, 3\)"):
        data.random_flip(KEYS[0], np.stack([IMG, IMG]))
    with pytest.raises(ValueError, match=r"augment: expected images of shape \(N, height"):
        data.augment(KEYS[0], IMG)
    with pytest.raises(TypeError, match="random_brightness: expected a floating-point image, got "
                                        "dtype uint8"):
        data.random_brightness(KEYS[0], IMG.astype(np.uint8), 0.1)
    with pytest.raises(ValueError, match=r"random_crop: expected padding to be an int >= 0 .* "
                                         r"got -1"):
        data.random_crop(KEYS[0], IMG, -1)
    with pytest.raises(ValueError, match="random_rotation: expected max_degrees to be a number "
                                         ">= 0.0, got -5"):
        data.random_rotation(KEYS[0], IMG, -5)
    with pytest.raises(ValueError, match="random_contrast: expected lower <= upper"):
        data.random_contrast(KEYS[0], IMG, 1.5, 0.5)
    with pytest.raises(TypeError, match="make_augmentation: expected each augmentation to be a "
                                        "function .* got int at position 1"):
        data.make_augmentation(data.random_flip, 3)


# ---- the Layer wrapper --------------------------------------------------------------------

def small_model():
    return nn.serial(nn.Flatten(), nn.Dense(5), nn.Relu(), nn.Dropout(0.5), nn.Dense(3))


def test_augmenting_is_identity_in_eval_mode_and_augments_in_training(key):
    model = small_model()
    aug = data.make_augmentation(partial(data.random_translate, max_shift=2),
                                 partial(data.additive_noise, std=0.3))
    wrapped = nn.augmenting(model, aug)
    assert wrapped.kind == model.kind and wrapped.children == model.children
    params, state = jax.jit(lambda k: wrapped.init(k, (4, 6, 8, 3))[1:])(key)
    x = jnp.asarray(np.stack([IMG] * 4))
    k = jax.random.key(3)

    @jax.jit
    def run(params, state, x, k):
        return {"eval": wrapped.apply(params, state, x)[0],
                "eval_with_key": wrapped.apply(params, state, x, key=k, train=False)[0],
                "model_eval": model.apply(params, state, x)[0],
                "train": wrapped.apply(params, state, x, key=k, train=True)[0],
                "by_hand": model.apply(params, state, aug(jax.random.fold_in(k, 1), x),
                                       key=jax.random.fold_in(k, 0), train=True)[0]}

    out = run(params, state, x, k)
    np.testing.assert_array_equal(out["eval"], out["model_eval"])
    np.testing.assert_array_equal(out["eval_with_key"], out["model_eval"])
    np.testing.assert_allclose(out["train"], out["by_hand"], rtol=1e-6)
    assert not np.allclose(out["train"], out["eval"])
    with pytest.raises(ValueError, match="augmenting: train=True needs a random key"):
        jax.eval_shape(lambda: wrapped.apply(params, state, x, train=True))
    bad = nn.augmenting(model, lambda k, imgs: imgs[:, :3])
    with pytest.raises(ValueError, match="augmenting: expected augment_fn to keep the input shape"):
        jax.eval_shape(lambda: bad.apply(params, state, x, key=k, train=True))
    with pytest.raises(TypeError, match="augmenting: expected model to be a Layer"):
        nn.augmenting(aug, model)


def test_augmenting_trains_with_the_unchanged_train_step(key):
    x = jnp.asarray(RNG.random((16, 6, 8, 3)), jnp.float32)
    y = jnp.asarray(RNG.integers(0, 3, 16), jnp.int32)
    model = nn.augmenting(small_model(), data.make_augmentation(data.random_flip))
    opt = optax.sgd(0.1)
    ts = init_train_state(model, opt, key, (1, 6, 8, 3))
    step = make_train_step(model, opt, losses.softmax_cross_entropy)
    ts1, logs = step(ts, (x, y))
    ts2, _ = step(ts1, (x, y))
    assert np.isfinite(float(logs["loss"])) and int(ts2.step) == 2
