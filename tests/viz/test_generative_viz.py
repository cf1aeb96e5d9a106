"""jdl.viz's pictures of autoencoders: shapes in, a matplotlib Figure out, a PNG written."""
import numpy as np
import pytest

from jdl import viz

PNG = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)


def _images(n=6, shape=(8, 8, 1)):
    return RNG.uniform(0, 1, (n, *shape)).astype(np.float32)


def _is_figure(fig):
    from matplotlib.figure import Figure
    return isinstance(fig, Figure)


def test_sample_grid(tmp_path):
    fig = viz.sample_grid(_images(10), tmp_path / "grid.png", columns=5, title="samples")
    assert _is_figure(fig) and len([a for a in fig.axes if a.get_visible()]) == 10
    assert (tmp_path / "grid.png").read_bytes()[:8] == PNG
    fig = viz.sample_grid(_images(4).reshape(4, -1), image_shape=(8, 8))   # no path: no file
    assert _is_figure(fig) and len(fig.axes) == 4
    with pytest.raises(ValueError, match="image_shape"):
        viz.sample_grid(_images(4).reshape(4, -1), image_shape=(7, 7))
    with pytest.raises(ValueError, match="images"):
        viz.sample_grid(np.zeros((8, 8, 5, 2)))


def test_reconstruction_pairs(tmp_path):
    x = _images(5)
    fig = viz.reconstruction_pairs(x, x * 0.5, tmp_path / "pairs.png")
    assert _is_figure(fig) and len(fig.axes) == 10
    assert fig.axes[0].get_ylabel() == "original" and fig.axes[5].get_ylabel() == "reconstruction"
    assert (tmp_path / "pairs.png").read_bytes()[:8] == PNG
    flat = x.reshape(5, -1)
    fig = viz.reconstruction_pairs(flat, {"PCA": flat, "AE": flat}, tmp_path / "three.png",
                                   image_shape=(8, 8))
    assert len(fig.axes) == 15 and fig.axes[10].get_ylabel() == "AE"
    with pytest.raises(ValueError, match="same shape"):
        viz.reconstruction_pairs(x, x[:4])


def test_denoising_triplets(tmp_path):
    x = _images(4, (8, 8))
    fig = viz.denoising_triplets(x, x + 0.3, x, tmp_path / "triplets.png", title="denoising")
    assert _is_figure(fig) and len(fig.axes) == 12
    assert [fig.axes[i].get_ylabel() for i in (0, 4, 8)] == ["clean", "noisy", "denoised"]
    assert (tmp_path / "triplets.png").read_bytes()[:8] == PNG


def test_latent_interpolation(tmp_path):
    seen = []

    def decode(codes):                       # a code (2,) -> an 8x8 image of its first value
        seen.append(np.asarray(codes))
        return np.repeat(codes[:, :1], 64, axis=1).reshape(-1, 8, 8)

    fig = viz.latent_interpolation(decode, np.zeros(2), np.ones(2), 5, tmp_path / "interp.png")
    assert _is_figure(fig) and len(fig.axes) == 5
    np.testing.assert_allclose(seen[0][:, 0], [0, 0.25, 0.5, 0.75, 1.0])
    assert fig.axes[-1].get_title() == "t=1.00"
    assert (tmp_path / "interp.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="steps"):
        viz.latent_interpolation(decode, np.zeros(2), np.ones(2), 1)
    with pytest.raises(ValueError, match="same size"):
        viz.latent_interpolation(decode, np.zeros(2), np.ones(3), 4)


def test_latent_scatter(tmp_path):
    codes = RNG.normal(size=(60, 2))
    labels = np.arange(60) % 3
    fig = viz.latent_scatter(codes, labels, tmp_path / "scatter.png",
                             class_names=["a", "b", "c"], title="latent space")
    assert _is_figure(fig)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["a", "b", "c"]
    assert (tmp_path / "scatter.png").read_bytes()[:8] == PNG
    fig = viz.latent_scatter(codes, labels)                          # labels as names
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["0", "1", "2"]
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        viz.latent_scatter(codes[:, :1], labels)
    with pytest.raises(ValueError, match="class_names"):
        viz.latent_scatter(codes, labels, class_names=["a"])
