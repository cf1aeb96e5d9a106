"""experiments/learning_rate_batch.py in --quick mode: the three parts ran, outputs are sane.

Claims checked are the ones with wide margins even on 600 images: a tiny learning rate barely
moves the loss and a huge one wrecks the net; the mini-batch gradient noise falls with the batch
size; every schedule's learning rate follows its rule.
"""

import pytest


def test_learning_rate_batch_quick(tmp_path, monkeypatch, load_script, strict_json):
    script = load_script("learning_rate_batch", monkeypatch)
    script.main(["--quick", "--out", str(tmp_path)])
    saved = strict_json(tmp_path / "metrics.json")
    assert {"dataset", "model", "n_train", "run", "learning_rate", "batch_size",
            "schedules"} <= saved.keys()
    for png in ("learning_rate.png", "batch_size.png", "schedules.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "table.md").read_text().count("###") == 3
    n = saved["n_train"]
    for part in ("learning_rate", "batch_size", "schedules"):
        for name, r in saved[part]["runs"].items():
            assert len(r["val_accuracy"]) == saved[part]["epochs"] + 1 or r["stopped"], (part, name)
            assert all(v is None or 0.0 <= v <= 1.0 for v in r["val_accuracy"]), (part, name)
            assert r["test_accuracy"] is None or 0.0 <= r["test_accuracy"] <= 1.0
            seeds = r["over_seeds"]  # the first seed is the run whose curves are stored
            assert seeds["seeds"] == saved["seeds"] == [0, 1], (part, name)
            assert seeds["test_accuracy"]["values"][0] == r["test_accuracy"], (part, name)

    lr = saved["learning_rate"]["runs"]
    assert set(lr) == {"0.001", "0.01", "0.1", "0.3", "1.0", "3.0"}  # (JSON keys come sorted)
    assert lr["0.1"]["val_loss"][-1] < lr["0.001"]["val_loss"][-1] - 0.3  # too small: slow
    assert lr["3.0"]["val_accuracy"][-1] < lr["0.1"]["val_accuracy"][-1] - 0.2  # too large

    batch = saved["batch_size"]
    for b, r in batch["runs"].items():
        assert r["updates"] == batch["epochs"] * (n // int(b))
        # the learning rate of each batch size is the one with the best validation accuracy
        tried = r["val_accuracy_by_lr"]
        assert sorted(map(float, tried)) == batch["lrs_tried"] == [0.01, 0.1]
        assert tried[f"{r['lr']:g}"] == max(tried.values()) == r["val_accuracy"][-1]
    assert set(batch["gradient_noise_at_init"]) == set(batch["runs"])
    noise = [v["relative_gradient_noise"] for _, v in
             sorted(batch["gradient_noise_at_init"].items(), key=lambda kv: int(kv[0]))]
    assert all(a > b for a, b in zip(noise, noise[1:])), noise  # bigger batch, less noise

    sched = saved["schedules"]
    lrs = {name: r["lr_per_epoch"] for name, r in sched["runs"].items()}
    lr0, epochs = sched["lr0"], sched["epochs"]
    assert all(len(v) == epochs for v in lrs.values())
    assert lrs["constant"] == pytest.approx([lr0] * epochs)
    for name in ("1/t", "1/sqrt(t+1)"):
        assert all(a > b for a, b in zip(lrs[name], lrs[name][1:])), name
    assert lrs["1/t"][-1] < lrs["1/sqrt(t+1)"][-1] < lr0
    assert lrs["step (x0.5 / 2 epochs)"][2] == pytest.approx(lr0 / 2)
    plateau = lrs["halve on plateau"]
    assert all(a >= b for a, b in zip(plateau, plateau[1:])) and plateau[0] == pytest.approx(lr0)
