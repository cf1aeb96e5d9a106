"""jdl.viz pictures: each writes a valid PNG atomically (no temporary file left behind) and
returns its path; wrong shapes raise ValueErrors naming the argument. No JAX compilation here:
the inputs are numpy arrays."""
import os
import subprocess
import sys

import numpy as np
import pytest

from jdl import viz
from jdl.viz._confusion import normalized_confusion
from jdl.viz._figure import grid_shape, normalize01

PNG = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)


def assert_png(path, directory):
    """`path` is a PNG and the only file in `directory` (no temporary files)."""
    assert path.read_bytes()[:8] == PNG
    assert os.listdir(directory) == [path.name]


def test_import_does_not_load_matplotlib():
    code = "import sys, jdl.viz; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})


def test_helpers():
    x = np.array([[1.0, 3.0], [2.0, 2.0]])
    np.testing.assert_allclose(normalize01(x), [[0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(normalize01(x, axis=1), [[0.0, 1.0], [0.5, 0.5]])  # constant row -> 0.5
    assert grid_shape(10, None) == (3, 4) and grid_shape(10, 5) == (2, 5) and grid_shape(2, 8) == (1, 2)
    m = np.array([[3.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalized_confusion(m, "true"), [[0.75, 0.25], [0.0, 0.0]])
    np.testing.assert_allclose(normalized_confusion(m, "pred"), [[1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalized_confusion(m, "all"), [[0.75, 0.25], [0.0, 0.0]])
    assert normalized_confusion(m, None) is m


@pytest.mark.parametrize("shape", [(3, 3, 3, 6), (5, 5, 1, 4), (3, 3, 4, 2)],
                         ids=["rgb", "gray", "per-channel"])
def test_plot_filters(tmp_path, shape):
    w = RNG.normal(size=shape).astype(np.float32)
    path = viz.plot_filters(w, tmp_path / "filters.png", title="conv1")
    assert path == tmp_path / "filters.png"
    assert_png(path, tmp_path)
    # overwriting keeps one file
    viz.plot_filters(w, path, normalize="all", max_filters=2)
    assert_png(path, tmp_path)


def test_plot_feature_maps_saliency_images(tmp_path):
    maps = RNG.uniform(size=(1, 4, 4, 5))
    assert_png(viz.plot_feature_maps(maps, tmp_path / "maps.png", title="pool1"), tmp_path)
    os.remove(tmp_path / "maps.png")
    images = RNG.uniform(size=(2, 8, 8, 3))
    assert_png(viz.plot_saliency(images, images.max(axis=-1), tmp_path / "sal.png"), tmp_path)
    viz.plot_saliency(images[0, ..., 0], images[0, ..., 0], tmp_path / "sal.png")  # one gray image
    os.remove(tmp_path / "sal.png")
    # a style-transfer triple of different sizes, titled
    ims = [images[0], images[1, :6, :6], images[0, ..., :1]]
    path = viz.plot_images(ims, tmp_path / "st.png", titles=["content", "style", "result"])
    assert_png(path, tmp_path)
    viz.plot_images(images, path, normalize=False, columns=1)
    assert_png(path, tmp_path)


def test_plot_confusion_matrix_and_history(tmp_path):
    m = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 0]])
    path = viz.plot_confusion_matrix(m, tmp_path / "cm.png", class_names=["a", "b", "c"])
    assert_png(path, tmp_path)
    viz.plot_confusion_matrix(m, path, normalize="true", title="recall")
    assert_png(path, tmp_path)
    os.remove(path)
    hist = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "epoch_time": [1.0, 1.0]}
    assert_png(viz.plot_history(hist, tmp_path / "h.png"), tmp_path)


def test_plot_errors_name_the_argument_and_write_nothing(tmp_path):
    out = tmp_path / "x.png"
    with pytest.raises(ValueError, match=r"weights: expected conv kernels of shape \(kh, kw, c_in, c_out\).*"
                                         r"got shape \(3, 3, 4\)"):
        viz.plot_filters(np.zeros((3, 3, 4)), out)
    with pytest.raises(ValueError, match=r"normalize: expected 'filter' or 'all', got 'x'"):
        viz.plot_filters(np.zeros((3, 3, 1, 2)), out, normalize="x")
    with pytest.raises(ValueError, match=r"max_filters: expected a positive int, got 0"):
        viz.plot_filters(np.zeros((3, 3, 1, 2)), out, max_filters=0)
    with pytest.raises(ValueError, match=r"maps: expected one image's feature maps .* got shape \(2, 4, 4, 5\)"):
        viz.plot_feature_maps(np.zeros((2, 4, 4, 5)), out)
    with pytest.raises(ValueError, match=r"image: expected shape \(8, 8\) \+ \(C,\).* got \(6, 6, 3\)"):
        viz.plot_saliency(np.zeros((6, 6, 3)), np.zeros((8, 8)), out)
    with pytest.raises(ValueError, match=r"saliency: expected \(H, W\) or a batch \(B, H, W\), got shape \(8,\)"):
        viz.plot_saliency(np.zeros((8, 8, 3)), np.zeros(8), out)
    with pytest.raises(ValueError, match=r"titles: expected one title per image \(2\), got 1"):
        viz.plot_images(np.zeros((2, 4, 4, 3)), out, titles=["a"])
    with pytest.raises(ValueError, match=r"images\[1\]: expected an image \(H, W\), \(H, W, 1\) or \(H, W, 3\), "
                                         r"got shape \(4, 4, 2\)"):
        viz.plot_images([np.zeros((4, 4)), np.zeros((4, 4, 2))], out)
    with pytest.raises(ValueError, match=r"images: expected a batch .* got shape \(4,\)"):
        viz.plot_images(np.zeros(4), out)
    with pytest.raises(ValueError, match=r"matrix: expected a square \(K, K\) confusion matrix, got shape \(2, 3\)"):
        viz.plot_confusion_matrix(np.zeros((2, 3)), out)
    with pytest.raises(ValueError, match=r"class_names: expected 2 names \(one per class\), got 3"):
        viz.plot_confusion_matrix(np.eye(2), out, class_names="abc")
    with pytest.raises(ValueError, match=r"normalize: expected None, 'true', 'pred' or 'all', got 'rows'"):
        viz.plot_confusion_matrix(np.eye(2), out, normalize="rows")
    assert os.listdir(tmp_path) == []
