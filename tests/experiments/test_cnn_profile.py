"""experiments/benchmarks/cnn_profile.py: the classifiers by hand, and a --quick run end to end."""
import json
import os
import pathlib
import subprocess
import sys
from types import SimpleNamespace

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "benchmarks" / "cnn_profile.py"


@pytest.fixture(scope="module")
def profile():
    sys.path.insert(0, str(SCRIPT.parent))
    import cnn_profile
    yield cnn_profile
    sys.path.remove(str(SCRIPT.parent))


def test_convolutions_are_told_apart_by_shape_and_window(profile):
    conv = profile.classify_convolution
    assert conv("f32[128,28,28,32]", "3x3") == "conv1 forward"
    assert conv("f32[128,14,14,64]", "3x3") == "conv2 forward"
    assert conv("f32[128,14,14,32]", "3x3") == "conv2 input gradient"
    assert conv("f32[32,3,3,64]", "14x14") == "conv2 filter gradient"
    assert conv("f32[1,3,3,32]", "28x28") == "conv1 filter gradient"


def test_other_instructions_by_direction_and_source(profile):
    c = profile.classify
    assert c("jit(train_step)/transpose(jvp())/reduce_sum", "f32[32]", "BatchNorm.<locals>.apply",
             "_norm.py") == "batch norm backward"
    assert c("jit(train_step)/jvp()/reduce_max", "f32[128,7,7,64]", "_pool.<locals>.apply",
             "_pool.py") == "max-pool forward"
    assert c("jit(train_step)/sqrt", "f32[64]", "scale_by_adam.<locals>.update_fn",
             "transform.py") == "optimizer (Adam update)"
    assert c("", "f32[28,28,128,32]", "", "") == "other (copies, layout, RNG keys)"
    product = "_filter_tangent.<locals>.product"   # Conv's filter gradient as products
    assert c("transpose(jvp())/pmk,pko->pmo", "f32[8,9,32]{2,1,0}", product, "_conv_grad.py") == "conv1 filter gradient"
    assert c("transpose(jvp())/pmk,pko->pmo", "f32[8,32,64]", product, "_conv_grad.py") == "conv2 filter gradient"
    assert c("transpose(jvp())/slice", "f32[128,14,14,32]", "taps", "_conv_grad.py") == "conv2 filter gradient"
    assert c("transpose(jvp())/concatenate", "f32[128,28,28,9]", "taps", "_conv_grad.py") == "conv1 filter gradient"


def test_torch_events_take_the_category_of_their_nearest_named_caller(profile):
    step = SimpleNamespace(name="Optimizer.step#Adam.step", cpu_parent=None)
    pool = SimpleNamespace(name="aten::max_pool2d_with_indices_backward", cpu_parent=None)
    assert profile.torch_category(SimpleNamespace(name="aten::sqrt", cpu_parent=step)) == \
        "optimizer (Adam update)"
    assert profile.torch_category(SimpleNamespace(name="aten::fill_", cpu_parent=pool)) == \
        "max-pool backward"
    assert profile.torch_category(SimpleNamespace(name="aten::empty", cpu_parent=None)).startswith("other")


@pytest.mark.slow  # two subprocesses with compiles: in `make test-all`
@pytest.mark.timeout(600)
def test_quick_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)],
                          cwd=SCRIPT.parent, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "cnn_profile.json").read_text())
    jdl = result["jdl"]["ms_per_step"]
    for name in ("conv1 forward", "conv2 forward", "conv1 filter gradient", "conv2 filter gradient",
                 "conv2 input gradient", "optimizer (Adam update)"):
        assert jdl[name] > 0, name
    assert result["jdl"]["thunks_ms_per_step"] > 0 and result["jdl"]["wall_ms_per_step"] > 0
    assert (tmp_path / "cnn_profile.md").read_text().startswith("| operation | jdl ms/step |")


def test_filter_gradient_alternatives_match_xla():
    """conv_filter_grad.py --quick checks every candidate against XLA's own gradient."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import conv_filter_grad
        result = conv_filter_grad.main(["--quick"])
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert set(result) == {"conv1", "conv2", "step"}
    assert all(set(result[c]) == {"xla", "shifted", "patches", "jdl", "forward"} for c in ("conv1", "conv2"))
    assert set(result["step"]) == {"jdl", "xla"} and min(result["step"].values()) > 0


def test_fit_tail_quick(monkeypatch):
    """fit_tail.py --quick: a prime number of batches gets K = 64 and a 3-step tail call."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import fit_tail
    result = fit_tail.main(["--quick"])
    assert (result["rule"]["steps_per_call"], result["rule"]["tail_steps"]) == (64, 3)
    assert set(result["steps_per_s"]) == {"k1_prime", "default_prime", "default_multiple"}
    assert min(result["steps_per_s"].values()) > 0
