"""The README's Python snippets run as written (the quickstart is a promise to users)."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_snippets_run(capsys):
    blocks = python_blocks()
    assert len(blocks) >= 2
    namespace: dict = {}
    exec(compile(blocks[0], "README quickstart", "exec"), namespace)   # the 10-line loop
    exec(compile(blocks[1], "README fit example", "exec"), namespace)  # fit + early stopping
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    assert accuracy > 0.9  # an MLP on digits reaches ~0.95-0.97
    assert "'accuracy'" in out
