"""Fixtures shared by the experiment tests: load a script from experiments/, read strict JSON."""
import importlib.util
import json
import pathlib

import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[2] / "experiments"


def _load_script(name, monkeypatch):
    """Import experiments/<name>.py as a module (the scripts import `_common`, so its folder
    goes on sys.path through `monkeypatch`, undone after the test)."""
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strict_json(path):
    """json.loads that refuses NaN / Infinity (the scripts must write valid JSON)."""
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}: not strict JSON")
    return json.loads(pathlib.Path(path).read_text(), parse_constant=refuse)


@pytest.fixture(scope="session")
def load_script():
    return _load_script


@pytest.fixture(scope="session")
def strict_json():
    return _strict_json
