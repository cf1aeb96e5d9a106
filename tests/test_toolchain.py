"""The interpreter the Makefile builds its venv with: the newest working Python that the newest
JAX supports (`.ci/pick-python`), skipping pyenv shims that do not run.

The probe is tried on fake interpreters for versions no real machine has (3.97, 3.98), so what
is installed on the machine running the tests cannot change the answer."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PICK = ROOT / ".ci" / "pick-python"


def _fake_python(path: pathlib.Path, works: bool) -> pathlib.Path:
    """An executable that answers the probe as a working (exit 0) or broken (exit 127) Python."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n" if works else "#!/bin/sh\necho 'pyenv: not selected' >&2\nexit 127\n")
    path.chmod(0o755)
    return path


def _pick(tmp_path, *versions: str) -> str:
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "PYENV_ROOT": str(tmp_path / "pyenv"),
           "HOME": str(tmp_path)}
    out = subprocess.run(["sh", str(PICK), *versions], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_a_broken_shim_on_the_path_is_skipped_for_the_pyenv_interpreter(tmp_path):
    _fake_python(tmp_path / "bin" / "python3.98", works=False)   # a shim, version not selected
    _fake_python(tmp_path / "pyenv/versions/3.98.0/bin/python3.98", works=True)
    _fake_python(tmp_path / "pyenv/versions/3.97.1/bin/python3.97", works=True)
    assert _pick(tmp_path, "3.98", "3.97") == str(tmp_path / "pyenv/versions/3.98.0/bin/python3.98")


def test_the_newest_patch_release_and_then_the_older_minor_version_are_taken(tmp_path):
    _fake_python(tmp_path / "pyenv/versions/3.97.1/bin/python3.97", works=True)
    _fake_python(tmp_path / "pyenv/versions/3.97.10/bin/python3.97", works=True)
    _fake_python(tmp_path / "pyenv/versions/3.98.0/bin/python3.98", works=False)
    assert _pick(tmp_path, "3.98", "3.97") == str(tmp_path / "pyenv/versions/3.97.10/bin/python3.97")


def test_a_working_interpreter_on_the_path_comes_first(tmp_path):
    on_path = _fake_python(tmp_path / "bin" / "python3.98", works=True)
    _fake_python(tmp_path / "pyenv/versions/3.98.0/bin/python3.98", works=True)
    assert _pick(tmp_path, "3.98") == str(on_path)


def test_without_a_newer_python_the_fallback_is_python3(tmp_path):
    fallback = _fake_python(tmp_path / "bin" / "python3", works=True)
    _fake_python(tmp_path / "bin" / "python3.98", works=False)
    _fake_python(tmp_path / "pyenv/versions/3.97.0/bin/python3.97", works=False)
    picked = _pick(tmp_path, "3.98", "3.97")   # versions no machine has outside tmp_path
    assert picked == str(fallback)


def test_the_real_probe_prints_a_python_that_runs():
    picked = subprocess.run(["sh", str(PICK)], capture_output=True, text=True, check=True).stdout.strip()
    version = subprocess.run([picked, "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == "True"


@pytest.mark.skipif("JDL_PICKED_PYTHON" not in os.environ,
                    reason="run by `make test`, which says which interpreter it chose")
def test_make_test_runs_on_the_interpreter_it_chose():
    """Under `make test` the venv's Python is the chosen one's version, and when nobody overrode
    the choice, that is the newest the probe finds on this machine right now."""
    chosen = os.environ["JDL_PICKED_PYTHON"]
    chosen_version = subprocess.run(
        [chosen, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert chosen_version == "%d.%d" % sys.version_info[:2]
    if os.environ.get("JDL_PYTHON_CHOSEN_BY") == ".ci/pick-python":
        newest = subprocess.run(["sh", str(PICK)], capture_output=True, text=True,
                                check=True).stdout.strip()
        assert os.path.realpath(newest) == os.path.realpath(chosen)
