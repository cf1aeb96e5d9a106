"""The numbers in an experiment page's results tables come from the run committed beside it.

A page whose run is published (`experiments/publish.py`) in `docs/experiments/runs/<name>/`
and listed in ALIGNED must draw every number of the tables under its "## Results" heading from
that run: each numeric token of a table body appears as a token of the run's `table.md` (when
it writes one), or
equals a number of its `metrics.json` at the precision shown (0.8933 matches 0.89333..., 1.4e-03
matches 0.00140..., 82.6% matches 0.8263...). Header rows, bold marks and thousands separators are ignored.

The other pages' tables come from earlier runs than the pictures published beside them; they
join ALIGNED as they are rerun and rewritten.
"""
import json
import math
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "experiments"
ALIGNED = ["universal_approximation", "depth_width", "search_strategies", "autoencoder_pca",
           "unet_segmentation", "word_language", "vae",
           "autoencoder_uses", "sequential_fashion", "char_lm",
           "shift_robustness", "relu_vs_tanh", "batchnorm_saturation", "dropout_cnn",
           "batchnorm", "optimizers", "initialization", "x_vs_o",
           "alexnet_ablation", "visualization",
           "regularization", "dcgan",
           "architectures", "exploding_gradients", "learning_rate_batch",
           "depth", "saturation", "long_term_dependency", "param_arithmetic", "transfer",
           "model_selection", "activations", "keras_example", "dropout_at_test"]
NUMBER = re.compile(r"(?<![\w.=])-?\d(?:[\d,]*\d)?(?:\.\d+)?(?:e[+-]?\d+)?%?(?![\w.])")


def results_table_tokens(page: str) -> list[str]:
    """Numeric tokens of the table bodies between '## Results' and the next '## ' heading."""
    text = (PAGES / f"{page}.md").read_text()
    section = text.split("\n## Results", 1)[1].split("\n## ", 1)[0]
    tokens, in_table = [], False
    for line in section.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        if not in_table:            # a table's first row is its header
            in_table = True
            continue
        if set(line) <= set("|-: "):
            continue
        tokens += NUMBER.findall(line.replace("**", ""))
    return tokens


def key_numbers(key: str) -> list[float]:
    """A key that is a number ("12,730"), or the numbers it names ("latent_2": 2)."""
    if re.fullmatch(r"-?[\d,]+(\.\d+)?", key):
        return [float(key.replace(",", ""))]
    return [float(d) for d in re.findall(r"(?<![a-z])\d+(?![a-z])", key)]


def metric_numbers(obj) -> list[float]:
    """Every number in a JSON value, and in its dictionary keys."""
    if isinstance(obj, bool):
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, dict):
        return [n for k, v in obj.items() for n in key_numbers(k) + metric_numbers(v)]
    if isinstance(obj, list):
        return [n for v in obj for n in metric_numbers(v)]
    return []


def shown_as(value: float, token: str) -> bool:
    """Whether `value` prints as `token` at the token's precision (a fraction as "82.6%")."""
    plain = token.replace(",", "")
    if plain.endswith("%"):
        value, plain = 100 * value, plain[:-1]
    if not math.isfinite(value):
        return False
    if "e" in plain:
        digits = len(plain.split("e")[0].split(".")[1]) if "." in plain else 0
        return f"{value:.{digits}e}" == plain
    digits = len(plain.split(".")[1]) if "." in plain else 0
    return f"{value:.{digits}f}" == plain or f"{abs(value):.{digits}f}" == plain.lstrip("-")


@pytest.mark.parametrize("page", ALIGNED)
def test_results_tables_come_from_the_published_run(page):
    """Every number of the page's results tables is in one of its published runs: the main one
    in runs/<page>/ or a further one (other flags) in a folder below it."""
    main = PAGES / "runs" / page
    table_tokens, numbers = set(), []
    for run in [main, *sorted(d for d in main.iterdir() if d.is_dir())]:
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["settings"]["quick"] is False, run
        assert {"date", "machine", "command"} <= set(metrics["run"]), run
        table = run / "table.md"
        if table.is_file():
            table_tokens |= {t.replace(",", "") for t in NUMBER.findall(table.read_text())}
        numbers += metric_numbers(metrics)
    tokens = results_table_tokens(page)
    assert len(tokens) >= 8, f"{page}: found only {len(tokens)} numbers in its results tables"
    missing = [t for t in tokens if t.replace(",", "") not in table_tokens
               and not any(shown_as(n, t) for n in numbers)]
    assert not missing, f"{page}: numbers not in runs/{page}/: {missing[:20]}"


def test_the_check_catches_a_number_from_elsewhere():
    assert shown_as(0.89333, "0.8933") and shown_as(0.0014, "1.4e-03") and shown_as(814090, "814,090")
    assert shown_as(0.82631, "82.6%") and not shown_as(0.82631, "82.6")
    assert not shown_as(0.89333, "0.8934") and not shown_as(0.0014, "1.5e-03")
    assert NUMBER.findall("| 0.9143 ± 0.0068 | 1 x 64 | 50,890 | 1.5e-01 | W=1 |") == [
        "0.9143", "0.0068", "1", "64", "50,890", "1.5e-01"]
