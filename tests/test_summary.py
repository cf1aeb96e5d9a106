"""jdl.summary: paths, shapes, parameter and multiply-add counts against hand arithmetic."""
from functools import partial

import jax
import numpy as np
import pytest

from jdl import nn
from jdl.models import fashion_cnn, lenet5, vgg16
from jdl.summary import Row, print_summary, summary


def test_lenet5_rows_by_hand():
    s = summary(lenet5(), (1, 32, 32, 1))
    by_path = {r.path: r for r in s}
    expected = {  # path: (kind, output shape, params, multiply-adds per example)
        "c1": ("conv", (1, 28, 28, 6), 156, 28 * 28 * 5 * 5 * 1 * 6),      # 117,600
        "s2": ("avg_pool", (1, 14, 14, 6), 0, 0),
        "c3": ("conv", (1, 10, 10, 16), 2_416, 10 * 10 * 5 * 5 * 6 * 16),  # 240,000
        "flatten": ("flatten", (1, 400), 0, 0),
        "c5": ("dense", (1, 120), 48_120, 400 * 120),
        "f6": ("dense", (1, 84), 10_164, 120 * 84),
        "output": ("dense", (1, 10), 850, 84 * 10),
    }
    for path, (kind, shape, params, macs) in expected.items():
        assert by_path[path][1:-1] == (kind, shape, params, 0, macs), path
    assert [r.path for r in s][:3] == ["c1", "act1", "s2"] and len(s) == 12
    assert s.total_params == 61_706 and s.total_state == 0
    assert s.total_macs == 117_600 + 240_000 + 48_000 + 10_080 + 840 == 416_520
    assert s.output_shape == (1, 10) and s.input_shape == (1, 32, 32, 1)
    assert s.param_bytes == 4 * 61_706
    assert all(r.depth == 1 for r in s) and isinstance(s[0], Row)


def test_nested_paths_state_and_max_depth():
    s = summary(fashion_cnn(), (8, 28, 28, 1))
    assert s["features/block1/conv"].output_shape == (8, 28, 28, 32)
    assert s["features/block2/pool"].output_shape == (8, 7, 7, 64)
    assert s["features/block1/conv"].depth == 3 and s["features"].kind == "serial"
    assert s["features/block1/bn"].state == 2 * 32 and s.total_state == 2 * (32 + 64)
    assert s["features"].params == 288 + 64 + 18_432 + 128            # combinators sum children
    assert s["features"].macs == 28 * 28 * 9 * 32 + 14 * 14 * 9 * 32 * 64
    assert s.total_params == 421_738
    assert [r.path for r in summary(fashion_cnn(), (8, 28, 28, 1), max_depth=1)] == [
        "features", "classifier"]
    with pytest.raises(KeyError, match="no layer at path 'features/conv9'"):
        s["features/conv9"]


def test_parallel_residual_grouped_and_transposed():
    model = nn.serial(
        ("branches", nn.parallel(("a", nn.Conv(4, 1)), ("b", nn.Conv(6, 3, groups=3)))),
        ("skip", nn.residual(nn.Conv(10, 3), nn.Conv(10, 1))),
        ("up", nn.ConvTranspose(2, 3, 2)))
    s = summary(model, (1, 8, 8, 3))
    assert s["branches/a"].output_shape == (1, 8, 8, 4)   # both branches see the input
    assert s["branches/b"].output_shape == (1, 8, 8, 6)
    assert s["branches"].output_shape == (1, 8, 8, 10)
    assert s["branches/b"].params == 3 * 3 * 1 * 6 + 6 and s["branches/b"].macs == 64 * 9 * 6
    assert s["skip/main"].macs == 64 * 9 * 10 * 10 and s["skip/shortcut"].macs == 64 * 10 * 10
    assert s["skip/main"].output_shape == s["skip/shortcut"].output_shape == (1, 8, 8, 10)
    assert s["up"].output_shape == (1, 16, 16, 2)
    assert s["up"].macs == 8 * 8 * 3 * 3 * 10 * 2        # every input pixel times the kernel
    params, _ = jax.eval_shape(lambda k: model.init(k, (1, 8, 8, 3))[1:], jax.random.key(0))
    assert s.total_params == sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
    assert s.total_macs == sum(r.macs for r in s if r.depth == 1)


def test_vgg16_without_allocating():
    s = summary(vgg16(), (1, 224, 224, 3))               # eval_shape only: 138M never allocated
    _, params, _ = jax.eval_shape(partial(vgg16().init, input_shape=(1, 224, 224, 3)),
                                  jax.random.key(0))
    assert s.total_params == 138_357_544 == sum(int(np.prod(p.shape))
                                                for p in jax.tree.leaves(params))
    assert s["features/conv1_1"] == Row("features/conv1_1", "conv", (1, 224, 224, 64), 1_792, 0,
                                        224 * 224 * 3 * 3 * 3 * 64, 2)
    assert s["classifier/fc6"].params == 25_088 * 4096 + 4096
    assert s["features/pool5"].output_shape == (1, 7, 7, 512)


def test_table_text_and_print(capsys):
    s = print_summary(lenet5(), (1, 32, 32, 1))
    text = capsys.readouterr().out
    assert text.strip() == str(s).strip()
    assert "params: 61,706" in text and "multiply-adds per example: 416,520" in text
    assert "(1, 28, 28, 6)" in text and "48,120" in text
    nested = str(summary(fashion_cnn(), (1, 28, 28, 1)))
    assert "\nfeatures/block1/conv " in nested and "\nclassifier/logits " in nested
    assert "(model)" in str(summary(nn.Dense(3), (2, 4)))


def test_leaf_model_and_errors():
    s = summary(nn.Dense(3), (2, 4))
    assert len(s) == 1 and s[0].kind == "dense" and s[0].params == 15 and s.total_macs == 12
    with pytest.raises(ValueError, match="max_depth >= 1"):
        summary(lenet5(), (1, 32, 32, 1), max_depth=0)
    with pytest.raises(ValueError, match="Conv: expected an input of rank 4"):
        summary(lenet5(), (1, 32, 32))
