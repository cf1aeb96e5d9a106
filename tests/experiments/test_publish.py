"""experiments/publish.py: a full run's files are copied and stale ones removed; quick runs and
runs without their command, date and machine are refused with the reason."""
import json

import pytest


def write_run(results, name, *, quick=False, run=None, pictures=("a.png",)):
    folder = results / name
    folder.mkdir(parents=True, exist_ok=True)
    run = {"command": "x.py", "date": "2026-12-05 21:50 UTC", "machine": "cpu, 2 cores"} \
        if run is None else run
    (folder / "metrics.json").write_text(json.dumps({"settings": {"quick": quick}, "run": run}))
    (folder / "table.md").write_text("| a |\n")
    for p in pictures:
        (folder / p).write_bytes(b"\x89PNG" + p.encode())
    return folder


def test_copies_a_full_run_and_drops_stale_files(tmp_path, monkeypatch, load_script):
    script = load_script("publish", monkeypatch)
    results, runs = tmp_path / "results", tmp_path / "runs"
    write_run(results, "vae", pictures=("a.png", "b.png"))
    script.publish("vae", results, runs)
    write_run(results, "vae", pictures=("b.png", "c.png"))
    (results / "vae" / "a.png").unlink()
    written = script.publish("vae", results, runs)
    assert sorted(p.name for p in written) == ["b.png", "c.png", "metrics.json", "table.md"]
    assert sorted(p.name for p in (runs / "vae").iterdir()) == sorted(p.name for p in written)
    assert (runs / "vae" / "c.png").read_bytes() == b"\x89PNGc.png"


def test_refuses_quick_missing_and_unrecorded_runs(tmp_path, monkeypatch, load_script):
    script = load_script("publish", monkeypatch)
    results, runs = tmp_path / "results", tmp_path / "runs"
    with pytest.raises(FileNotFoundError, match=r"name: expected a full run in .*nothing"):
        script.publish("nothing", results, runs)
    write_run(results, "quick", quick=True)
    with pytest.raises(ValueError, match="is a --quick run"):
        script.publish("quick", results, runs)
    write_run(results, "old", run={"command": "x.py"})
    with pytest.raises(ValueError, match=r"lacks \['date', 'machine'\]"):
        script.publish("old", results, runs)
    assert not runs.exists() or not any(runs.iterdir())


def test_a_second_run_goes_into_a_folder_of_the_page_and_survives_the_main_one(
        tmp_path, monkeypatch, load_script):
    script = load_script("publish", monkeypatch)
    results, runs = tmp_path / "results", tmp_path / "runs"
    write_run(results, "vae")
    write_run(results, "vae_latent_2", pictures=("z.png",))
    script.publish("vae_latent_2", results, runs, into="vae/latent_2")
    script.publish("vae", results, runs)  # republishing the main run keeps the folder
    assert sorted(p.name for p in (runs / "vae").iterdir()) == ["a.png", "latent_2", "metrics.json",
                                                               "table.md"]
    assert sorted(p.name for p in (runs / "vae" / "latent_2").iterdir()) == [
        "metrics.json", "table.md", "z.png"]
    with pytest.raises(SystemExit):
        script.main(["vae", "vae_latent_2", "--into", "vae/x", "--results", str(results)])
