"""Publish a full run: copy `results/<name>/` (metrics.json, table.md, the PNG pictures) into
`docs/experiments/runs/<name>/`, where the experiment's docs page shows them.

    python experiments/publish.py universal_approximation          # from results/<name>/
    python experiments/publish.py vae --results /path/to/results   # from elsewhere

A `--quick` run is refused (its numbers say nothing), and so is a run without the command,
date and machine in its `metrics.json` (`_common.save_results` writes them). The copies are
written atomically; files of an earlier publication that the new run does not have are removed,
so the folder always holds one run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jdl.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "experiments" / "runs"
PUBLISHED = ("metrics.json", "table.md")


def publish(name: str, results: Path = ROOT / "results", runs: Path = RUNS,
            into: str | None = None) -> list[Path]:
    """Copy one run's files to `runs/<into or name>/`; return the paths written.

    `into` publishes a second run of a page next to its main one, e.g. the same experiment
    with other flags: `--out results/exploding_gradients_T100`, then `publish
    exploding_gradients_T100 --into exploding_gradients/length_100`. The page's results
    check reads every run under `runs/<page>/`.
    """
    source = Path(results) / name
    metrics_path = source / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"name: expected a full run in {source} (no metrics.json there); "
                                f"run python experiments/{name}.py first")
    metrics = json.loads(metrics_path.read_text())
    if metrics.get("settings", {}).get("quick"):
        raise ValueError(f"name: {metrics_path} is a --quick run; publish only full runs")
    missing = {"command", "date", "machine"} - set(metrics.get("run", {}))
    if missing:
        raise ValueError(f"name: {metrics_path} lacks {sorted(missing)} in its 'run' record; "
                         f"rerun it with the current experiments/_common.py")
    files = [source / f for f in PUBLISHED if (source / f).is_file()] + sorted(source.glob("*.png"))
    target = Path(runs) / (into or name)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():  # a stale file goes; a further run (a folder) stays
        if old.is_file() and old.name not in {f.name for f in files}:
            old.unlink()
    written = []
    for f in files:
        with atomic_write(target / f.name) as out:
            out.write(f.read_bytes())
        written.append(target / f.name)
    return written


def main(argv=None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+", help="experiment names, e.g. vae char_lm")
    p.add_argument("--results", type=Path, default=ROOT / "results")
    p.add_argument("--into", default=None,
                   help="publish the one named run as runs/<into>/ (e.g. vae/latent_2)")
    args = p.parse_args(argv)
    if args.into is not None and len(args.names) != 1:
        p.error(f"--into: expected exactly one run name, got {args.names}")
    written = []
    for name in args.names:
        try:
            paths = publish(name, args.results, into=args.into)
        except (FileNotFoundError, ValueError) as error:
            sys.exit(f"publish.py: {error}")
        print(f"{name}: " + ", ".join(p.name for p in paths))
        written += paths
    return written


if __name__ == "__main__":
    main()
