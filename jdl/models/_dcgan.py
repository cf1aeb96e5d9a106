"""DCGAN (Radford, Metz & Chintala 2016) for small images such as 28x28x1: the generator and
the discriminator of a GAN (Goodfellow et al. 2014; Salakhutdinov and Loo, "Generative
Adversarial Networks"). Train them against each other with `losses.gan_discriminator_loss` and
`losses.gan_generator_loss`.

The paper's guidelines, followed here: strided convolutions instead of pooling (transposed
ones in the generator), batch norm in both networks except the generator's output and the
discriminator's input layer, ReLU in the generator with tanh at the output, LeakyReLU (slope
0.2) in the discriminator, no hidden fully connected layers, weights from N(0, 0.02^2).
Kernels are 4x4: with stride 2 every output pixel gets the same number of kernel taps, which
avoids the checkerboard artefacts of 3x3 / 5x5 kernels (Odena et al. 2016).
"""
from __future__ import annotations

from typing import Sequence

from jdl import initializers, nn
from jdl.models._autoencoder import _image_shape

_OUTPUTS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _check(base_filters, image_shape, kind) -> tuple[int, int, int]:
    if not (isinstance(base_filters, int) and base_filters > 0):
        raise ValueError(f"{kind}: expected base_filters to be a positive int, got "
                         f"{base_filters!r}")
    shape = _image_shape(image_shape, kind, "image_shape")
    if len(shape) != 3 or shape[0] % 4 or shape[1] % 4:
        raise ValueError(f"{kind}: expected image_shape (height, width, channels) with height and "
                         f"width divisible by 4 (two stride-2 layers), got {tuple(image_shape)}")
    return shape


def dcgan_generator(*, base_filters: int = 64, image_shape: Sequence[int] = (28, 28, 1),
                    output: str = "tanh") -> nn.Layer:
    """z `(B, latent)` -> images `(B, 28, 28, 1)`:

        Dense(7*7*2f) -> Reshape(7, 7, 2f) -> BN -> ReLU
        -> ConvTranspose(f, 4, stride 2) -> BN -> ReLU          (14, 14, f)
        -> ConvTranspose(1, 4, stride 2) -> tanh                (28, 28, 1)

    with f = `base_filters`. `output="tanh"` (the paper's choice: train on images scaled to
    [-1, 1], x * 2 - 1, which centres the data and gives the output unit a symmetric range) or
    `"sigmoid"` for images in [0, 1]. The latent size is the width of the `init` input shape,
    e.g. `init(key, (B, 100))` (the paper's 100-dimensional uniform or normal z).
    """
    if output not in _OUTPUTS:
        raise ValueError(f"dcgan_generator: expected output in {sorted(_OUTPUTS)}, got {output!r}")
    h, w, c = _check(base_filters, image_shape, "dcgan_generator")
    w_init, f = initializers.normal(0.02), base_filters
    return nn.serial(
        ("project", nn.Dense(h // 4 * (w // 4) * 2 * f, use_bias=False, w_init=w_init)),
        ("reshape", nn.Reshape((h // 4, w // 4, 2 * f))), ("bn0", nn.BatchNorm()),
        ("relu0", nn.Relu()),
        ("deconv1", nn.ConvTranspose(f, 4, 2, use_bias=False, w_init=w_init)),
        ("bn1", nn.BatchNorm()), ("relu1", nn.Relu()),
        ("deconv2", nn.ConvTranspose(c, 4, 2, w_init=w_init)), ("output", _OUTPUTS[output]()))


def dcgan_discriminator(*, base_filters: int = 64, image_shape: Sequence[int] = (28, 28, 1),
                        negative_slope: float = 0.2) -> nn.Layer:
    """images `(B, 28, 28, 1)` -> one logit per image `(B, 1)` (D(x) = sigmoid(logit)):

        Conv(f, 4, stride 2) -> LeakyReLU(0.2)                  (14, 14, f)
        -> Conv(2f, 4, stride 2) -> BN -> LeakyReLU(0.2)         (7, 7, 2f)
        -> Flatten -> Dense(1)

    `init` takes the image shape, e.g. `(B, 28, 28, 1)`; `image_shape` only checks the
    divisibility. Batch norm normalises over the batch it is given: run real and generated
    batches through separate calls (as the paper's code does) or one concatenated call, but
    the same way at every step.
    """
    _check(base_filters, image_shape, "dcgan_discriminator")
    w_init, f = initializers.normal(0.02), base_filters
    return nn.serial(
        ("conv1", nn.Conv(f, 4, 2, w_init=w_init)), ("lrelu1", nn.LeakyRelu(negative_slope)),
        ("conv2", nn.Conv(2 * f, 4, 2, use_bias=False, w_init=w_init)), ("bn2", nn.BatchNorm()),
        ("lrelu2", nn.LeakyRelu(negative_slope)), ("flatten", nn.Flatten()),
        ("logit", nn.Dense(1, w_init=w_init)))
