"""experiments/benchmarks/fit_rule.py --quick: every configuration timed, `auto` reported.

No timing assertions: the figures of a quick run on a shared machine mean nothing.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "benchmarks" / "fit_rule.py"


@pytest.mark.slow  # about 40 s of compiles: in `make test-all`
@pytest.mark.timeout(600)
def test_quick_fit_rule(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path),
                           "--workloads", "mlp", "cnn"], cwd=SCRIPT.parent, env=env,
                          capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "fit_rule.json").read_text())
    assert result["quick"] is True and set(result["workloads"]) == {"mlp", "cnn"}
    mlp, cnn = result["workloads"]["mlp"], result["workloads"]["cnn"]
    assert (cnn["auto_chose"]["steps_per_call"], cnn["auto_chose"]["unroll"]) == (4, True)
    assert mlp["auto_chose"]["unroll"] is False          # 4 steps per epoch in quick mode
    assert mlp["auto_chose"]["steps_per_call"] == mlp["steps_per_epoch"]
    for workload in (mlp, cnn):
        assert "auto (fit's default)" in workload["steps_per_s"]
        assert all(rate > 0 for rate in workload["steps_per_s"].values())
