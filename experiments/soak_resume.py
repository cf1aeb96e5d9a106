"""Kill-and-resume soak: `fit` with `checkpoint_dir=` killed with SIGKILL at random moments,
resumed each time, must end bit for bit where an uninterrupted run ends, and no checkpoint may
ever be half written or silently wrong.

    python experiments/soak_resume.py               # 20 random kills (about 5 minutes on 2 cores)
    python experiments/soak_resume.py --quick       # 1 kill, 5 epochs, a smaller MLP (the tests)
    python experiments/soak_resume.py --kills 100 --epochs 60

Method: a worker process trains a small dropout MLP with Adam (`fit`, K steps per call, a
checkpoint after every epoch, the last 3 kept) and writes its final parameters and optimizer
state. First one worker runs uninterrupted: the reference, and the time T its training takes.
Then the soak starts workers on one checkpoint directory and kills each with SIGKILL: at a
random moment of its start (restoring, compiling, the first epoch), or a random part of an
epoch after its k-th new checkpoint (k = 1..3: training, or writing the next checkpoint). After
every kill:
- every step that counts as saved (has jdl's manifest) passes its sha256 check (and the next
  worker restores the newest); new leftovers of an interrupted write or deletion (an Orbax
  temporary folder, or a step folder without a manifest) count as "kills during a checkpoint
  write" and must be ignored;
- the next worker resumes from the newest step and trains only the remaining epochs.
A worker that finishes before its kill ends a round: its parameters must equal the reference's
bit for bit; the directory is then emptied and a new round begins, until `--kills` kills.

Writes `<out>/metrics.json` (kills, rounds, kills during a write, seconds).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

STEPS_PER_EPOCH = 30    # 960 examples in batches of 32


def parse_args(argv=None):
    from _common import parser
    p = parser("soak_resume", "SIGKILL fit at random moments, resume, compare bit for bit")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args(argv)
    if args.quick:   # every worker imports JAX and compiles: as few workers as one kill needs
        args.kills, args.epochs = 1, 5
    if args.kills < 1 or args.epochs < 2:
        p.error(f"--kills: expected >= 1 and --epochs >= 2, got {args.kills} and {args.epochs}")
    return args


def worker(checkpoint_dir: str, out: str, epochs: int, seed: int, quick: bool = False) -> None:
    """One training run; prints 'training' when it starts and a JSON line when done. `quick`:
    one hidden layer of 16 and one step per compiled call (less to compile in every worker)."""
    import jax
    import optax

    from jdl import io, losses, models, train

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32 * STEPS_PER_EPOCH, 20)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] + 0.5 * x[:, 2] > 0).astype(np.int32)
    sizes = [16, 2] if quick else [64, 64, 2]
    model = models.mlp(sizes, dropout=0.2)   # dropout: the resumed keys must match too
    optimizer = optax.adam(1e-3)
    ts = train.init_train_state(model, optimizer, jax.random.key(seed), (1, 20))
    step = train.make_train_step(model, optimizer, losses.softmax_cross_entropy)
    print("training", flush=True)
    ts, history = train.fit(ts, step, (x, y), epochs=epochs, batch_size=32, verbose=0,
                            checkpoint_dir=checkpoint_dir, steps_per_call=1 if quick else 4)
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves((ts.params, ts.opt_state))]
    with io.atomic_write(out) as f:
        np.savez(f, *leaves)
    # a worker killed after its last checkpoint leaves nothing to train: no "loss" history
    print(json.dumps({"epochs_run": len(history.get("loss", ())), "step": int(ts.step)}),
          flush=True)


def start(args, checkpoint_dir: Path, out: Path) -> tuple[subprocess.Popen, float]:
    """A worker process, and the time it printed 'training'."""
    command = [sys.executable, __file__, "--worker", str(checkpoint_dir), str(out),
               str(args.epochs), str(args.seed)] + (["quick"] if args.quick else [])
    # one device; no shared JAX compilation cache: JAX writes its entries in place, so a
    # worker killed mid-write would leave a truncated entry in the caller's cache
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR")}
    if args.quick:   # XLA's cheap compile: every worker compiles its programs anew
        env.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stdout.readline()
    if line.strip() != "training":
        raise RuntimeError(f"soak: the worker failed to start: {line}{proc.stderr.read()}")
    return proc, time.perf_counter()


def finish(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"soak: the worker failed (exit {proc.returncode}):\n{stderr}")
    return json.loads(stdout.strip().splitlines()[-1])


def same_arrays(a: Path, b: Path) -> bool:
    x, y = np.load(a), np.load(b)
    return len(x.files) == len(y.files) > 0 and all(
        np.array_equal(x[n], y[n]) and x[n].dtype == y[n].dtype for n in x.files)


def inspect_after_kill(checkpoint_dir: Path) -> dict:
    """Verify every saved step against its manifest; list the leftovers of interrupted writes.
    (The next worker restores the newest step, so a step that does not restore fails it.)"""
    from jdl.checkpoint import CheckpointManager

    steps, leftovers = [], []
    if checkpoint_dir.is_dir():
        manager = CheckpointManager(checkpoint_dir)
        steps = manager.all_steps()
        for s in steps:
            manager.verify(s)            # raises ValueError naming a bad file
        leftovers = [p.name for p in checkpoint_dir.iterdir()
                     if not (p.name.isdigit() and int(p.name) in steps)]
        manager.close()
    return {"saved_steps": steps, "leftovers": leftovers}


def saved_steps(checkpoint_dir: Path) -> set[str]:
    """Names of the step folders that hold a manifest (complete saves)."""
    return {p.parent.name for p in checkpoint_dir.glob("*/jdl_manifest.json")}


def wait_for_saves(proc: subprocess.Popen, checkpoint_dir: Path, before: set[str], count: int):
    """Return once `count` new complete steps exist in `checkpoint_dir`, or the worker ended."""
    while proc.poll() is None and len(saved_steps(checkpoint_dir) - before) < count:
        time.sleep(0.005)
    return time.perf_counter()


def soak(args, out: Path, reference: Path, timing: dict) -> dict:
    """Kill workers until `args.kills` kills; every finished round must equal `reference`.

    Each kill draws a number of new checkpoints k in 0..3 to wait for: k = 0 kills at a random
    moment of the worker's start (imports done: restoring, compiling, the first epoch); k > 0
    waits for the k-th new checkpoint, then kills after a random part of an epoch (training,
    or writing the next checkpoint)."""
    chooser = random.Random(args.seed)
    checkpoint_dir, result = out / "soak_checkpoints", out / "soak.npz"
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    counts = {"kills": 0, "kills_during_write": 0, "rounds_completed": 0, "workers": 0}
    while counts["kills"] < args.kills:
        found = inspect_after_kill(checkpoint_dir)
        saved, before = found["saved_steps"], saved_steps(checkpoint_dir)
        proc, started = start(args, checkpoint_dir, result)
        counts["workers"] += 1
        k = chooser.randrange(4)
        since = started if k == 0 else wait_for_saves(proc, checkpoint_dir, before, k)
        delay = chooser.uniform(0.0, timing["first_save"] if k == 0 else timing["epoch"])
        try:
            proc.wait(timeout=max(0.0, since + delay - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            counts["kills"] += 1
            after = inspect_after_kill(checkpoint_dir)
            counts["kills_during_write"] += bool(set(after["leftovers"]) - set(found["leftovers"]))
            print(f"kill {counts['kills']}: {delay:.2f} s after checkpoint {k} of this worker, "
                  f"saved steps "
                  f"{after['saved_steps']}, leftovers {after['leftovers']}", flush=True)
            continue
        done = finish(proc)
        resumed_epoch = (saved[-1] if saved else 0) // STEPS_PER_EPOCH
        if done["epochs_run"] != args.epochs - resumed_epoch:
            raise AssertionError(f"soak: resumed at epoch {resumed_epoch} but trained "
                                 f"{done['epochs_run']} of {args.epochs} epochs")
        if not same_arrays(reference, result):
            raise AssertionError("soak: a resumed run differs from the uninterrupted one")
        counts["rounds_completed"] += 1
        print(f"round {counts['rounds_completed']}: equal to the reference bit for bit", flush=True)
        shutil.rmtree(checkpoint_dir)
    return counts


def finish_round(args, out: Path, reference: Path) -> dict:
    """Resume the last, killed round to the end: it too must equal the reference."""
    checkpoint_dir, result = out / "soak_checkpoints", out / "soak.npz"
    proc, _ = start(args, checkpoint_dir, result)
    finish(proc)
    if not same_arrays(reference, result):
        raise AssertionError("soak: the last resumed run differs from the uninterrupted one")
    return {"last_round_equal": True}


def main(argv=None) -> dict:
    args = parse_args(argv)
    from _common import save_results, settings
    began = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference_dir, reference = out / "reference_checkpoints", out / "reference.npz"
    shutil.rmtree(reference_dir, ignore_errors=True)
    proc, started = start(args, reference_dir, reference)
    first_save = wait_for_saves(proc, reference_dir, set(), 1) - started
    finish(proc)
    train_seconds = time.perf_counter() - started
    timing = {"first_save": first_save,
              "epoch": (train_seconds - first_save) / (args.epochs - 1)}
    print(f"reference: {args.epochs} epochs in {train_seconds:.1f} s, the first checkpoint "
          f"after {first_save:.1f} s, then {timing['epoch']:.2f} s per epoch", flush=True)
    counts = soak(args, out, reference, timing)
    counts.update(finish_round(args, out, reference))
    metrics = {"settings": settings(args), "reference_train_seconds": round(train_seconds, 2),
               "reference_first_save_seconds": round(first_save, 2),
               "reference_epoch_seconds": round(timing["epoch"], 3), **counts}
    save_results(out, metrics, started=began)
    for d in ("reference_checkpoints", "soak_checkpoints"):
        shutil.rmtree(out / d, ignore_errors=True)
    return metrics


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:     # started by `start`: the worker skips _common's imports
        directory, out_npz, epochs, seed, *quick = sys.argv[2:]
        worker(directory, out_npz, int(epochs), int(seed), quick=quick == ["quick"])
    else:
        main()
