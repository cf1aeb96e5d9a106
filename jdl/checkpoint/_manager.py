"""Run checkpoints: whole TrainStates saved per step with Orbax, kept last-N (+ best), verified.

Layout of `directory`:

    <directory>/<step>/default/...            Orbax's files (OCDBT/tensorstore, metadata)
    <directory>/<step>/_CHECKPOINT_METADATA   Orbax's step metadata
    <directory>/<step>/jdl_manifest.json      jdl: sha256 of every file, metrics, tree spec

A step is written by Orbax to a temporary directory and renamed into place; jdl then writes
the manifest. Only steps with a manifest count (`all_steps`), so an interrupted save, whose
leftovers are `<step>.orbax-checkpoint-tmp-*` or a step without a manifest, is ignored and
cleaned up by the next save.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import jax
import numpy as np

if TYPE_CHECKING:
    import orbax.checkpoint as ocp

from jdl.checkpoint._manifest import MANIFEST, read_manifest, verify as _verify, write_manifest
from jdl.checkpoint._tree import abstract_storable, check_spec, data_to_keys, keys_to_data, spec


def _all_steps(directory: str | os.PathLike) -> list[int]:
    """Sorted steps in `directory` that finished saving (have a manifest); [] if none/absent."""
    root = Path(directory)
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir()
                  if p.name.isdigit() and p.is_dir() and (p / MANIFEST).is_file())


def _latest_step(directory: str | os.PathLike) -> int | None:
    """The newest complete step in `directory`, or None when there is none."""
    steps = _all_steps(directory)
    return steps[-1] if steps else None


def _best_step(directory: str | os.PathLike, metric: str, mode: str = "min") -> int | None:
    """The complete step whose saved `metrics[metric]` is lowest (`mode="min"`) or highest.

    Steps saved without that metric (or with NaN) are skipped; None when no step has it.
    """
    _check_mode(mode)
    scored = []
    for s in _all_steps(directory):
        value = read_manifest(Path(directory) / str(s))["metrics"].get(metric)
        if value is not None and not math.isnan(value):
            scored.append((value if mode == "min" else -value, -s))  # ties: the newest step
    return -min(scored)[1] if scored else None


def _orbax_module():
    """Orbax, imported on first use, so `import jdl` does not pay its import (about 0.4 s)."""
    import orbax.checkpoint

    return orbax.checkpoint


def _check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"best_mode: expected 'min' or 'max', received {mode!r}")


class CheckpointManager:
    """Saves TrainStates (any pytree) under `directory`, one Orbax step directory per step.

        ckpt = CheckpointManager("runs/a", keep=3, best_metric="val_loss")
        ckpt.save(ts, metrics={"val_loss": 0.31})      # step taken from ts.step
        ts = ckpt.restore(ts)                           # latest step, exact types back
        ts = ckpt.restore_best(ts)

    Args:
      directory: the run's checkpoint directory (created on the first save).
      keep: how many of the newest steps to keep (None: all). The best step by
        `best_metric` is kept in addition, even when it is older.
      best_metric: the name of a metric passed to `save` that ranks steps; every save must
        then give it.
      best_mode: "min" (a loss) or "max" (an accuracy).

    Saves are synchronous: `save` returns after the data and the manifest are on disk.
    Single-process; in a multi-host run only process 0 writes the manifest.
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int | None = 3,
                 best_metric: str | None = None, best_mode: str = "min") -> None:
        if keep is not None and (not isinstance(keep, int) or keep < 1):
            raise ValueError(f"keep: expected None or an int >= 1, received {keep!r}")
        _check_mode(best_mode)
        self.directory = Path(directory).absolute()
        self.keep, self.best_metric, self.best_mode = keep, best_metric, best_mode
        self._mngr: ocp.CheckpointManager | None = None

    def _orbax(self, *, for_save: bool = True) -> ocp.CheckpointManager:
        """The Orbax manager: cached for saving (creates the directory, removes leftover tmp
        dirs); a throw-away one that writes nothing for a restore before any save."""
        if self._mngr is not None:
            return self._mngr
        ocp = _orbax_module()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=None, enable_async_checkpointing=False, create=for_save,
            cleanup_tmp_directories=for_save)
        mngr = ocp.CheckpointManager(self.directory, options=options)
        if for_save:
            self._mngr = mngr
        return mngr

    def all_steps(self) -> list[int]:
        """Sorted complete steps."""
        return _all_steps(self.directory)

    def latest_step(self) -> int | None:
        """The newest complete step, or None."""
        return _latest_step(self.directory)

    def best_step(self) -> int | None:
        """The best complete step by `best_metric`, or None (no metric configured or saved)."""
        if self.best_metric is None:
            return None
        return _best_step(self.directory, self.best_metric, self.best_mode)

    def metrics(self, step: int) -> dict[str, float]:
        """The metrics saved with `step`."""
        return dict(read_manifest(self.directory / str(step))["metrics"])

    def save(self, ts: Any, *, step: int | None = None,
             metrics: Mapping[str, Any] | None = None, overwrite: bool = False) -> int:
        """Save `ts` as `step` (default `int(ts.step)`), then drop steps beyond `keep`/best.

        Typed keys are stored as `key_data`. Returns the step. Raises ValueError if the step
        is already saved (unless `overwrite=True`) or `metrics` lacks `best_metric`.
        """
        step = _step_of(ts) if step is None else int(step)
        metrics = {str(k): float(v) for k, v in (metrics or {}).items()}
        if self.best_metric is not None and self.best_metric not in metrics:
            raise ValueError(f"save: metrics: expected a value for best_metric "
                             f"{self.best_metric!r}, received keys {sorted(metrics)}")
        mngr = self._orbax()
        step_dir = self.directory / str(step)
        mngr.reload()
        if step in mngr.all_steps():
            if (step_dir / MANIFEST).is_file() and not overwrite:
                raise ValueError(f"save: step {step} is already saved in {self.directory} "
                                 f"(pass overwrite=True to replace it)")
            self._delete(mngr, step)               # incomplete leftover, or overwrite
        storable = keys_to_data(ts)
        if not mngr.save(step, args=_orbax_module().args.StandardSave(storable), force=True):
            raise RuntimeError(f"save: Orbax declined to save step {step} in {self.directory}")
        mngr.wait_until_finished()
        if not step_dir.is_dir():
            raise RuntimeError(f"save: expected Orbax to write {step_dir}, it is not there")
        if jax.process_index() == 0:
            write_manifest(step_dir, step, metrics, spec(storable))
        self._prune(mngr)
        return step

    def _prune(self, mngr: ocp.CheckpointManager) -> None:
        complete = self.all_steps()
        keep = set(complete if self.keep is None else complete[-self.keep:])
        best = self.best_step()
        if best is not None:
            keep.add(best)
        for s in mngr.all_steps():
            if s not in keep:
                self._delete(mngr, s)

    def _delete(self, mngr: ocp.CheckpointManager, step: int) -> None:
        """Drop a step so that no moment of the deletion leaves a broken step that counts:
        the manifest goes first (the step stops counting), then Orbax removes the files. A
        crash in between leaves an uncounted leftover that the next save removes. (Found by
        experiments/soak_resume.py: a SIGKILL inside Orbax's delete left a step with its
        manifest but without some of its files.)"""
        if jax.process_index() == 0:
            (self.directory / str(step) / MANIFEST).unlink(missing_ok=True)
        mngr.delete(step)

    def restore(self, target: Any, step: int | None = None, *, verify: bool = True) -> Any:
        """Restore `step` (default: the latest) into the structure of `target`.

        `target` is the abstract structure: a TrainState of arrays or ShapeDtypeStructs (e.g.
        a freshly initialised one, or `jax.eval_shape(...)`). NamedTuples (optimizer states)
        and typed keys come back as in `target`; arrays land on the target leaf's sharding.
        Files are checked against the sha256 manifest first (`verify=False` skips the
        hashing). Raises FileNotFoundError when there is no such step, ValueError when a file
        is corrupted or the stored tree does not match `target` (listing the paths).
        """
        if step is None:
            step = self.latest_step()
            if step is None:
                raise FileNotFoundError(f"restore: no complete checkpoint in {self.directory}")
        step = int(step)
        step_dir = self.directory / str(step)
        if not step_dir.is_dir():
            raise FileNotFoundError(f"restore: step {step} is not in {self.directory}; "
                                    f"available steps: {self.all_steps()}")
        manifest = _verify(step_dir) if verify else read_manifest(step_dir)
        abstract = abstract_storable(target)
        check_spec(spec(abstract), manifest["tree"], f"restore({step_dir})")
        temporary = self._mngr is None
        mngr = self._orbax(for_save=False)
        try:
            if step not in mngr.all_steps():
                mngr.reload()
            restored = mngr.restore(step, args=_orbax_module().args.StandardRestore(abstract))
        finally:
            if temporary:
                mngr.close()
        return data_to_keys(restored, target)

    def restore_best(self, target: Any, *, verify: bool = True) -> Any:
        """Restore the best step by `best_metric` (see `restore`)."""
        if self.best_metric is None:
            raise ValueError("restore_best: this CheckpointManager has no best_metric")
        step = self.best_step()
        if step is None:
            raise FileNotFoundError(f"restore_best: no checkpoint in {self.directory} has "
                                    f"metric {self.best_metric!r}")
        return self.restore(target, step, verify=verify)

    def verify(self, step: int) -> None:
        """Check one step's files against its sha256 manifest (ValueError naming a bad file)."""
        _verify(self.directory / str(int(step)))

    def close(self) -> None:
        """Release Orbax's resources (threads); the manager can be used again afterwards."""
        if self._mngr is not None:
            self._mngr.close()
            self._mngr = None

    def __enter__(self) -> "CheckpointManager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _step_of(ts: Any) -> int:
    step = getattr(ts, "step", None)
    if step is None or np.ndim(step) != 0:
        raise ValueError(f"save: step: expected a scalar ts.step or an explicit step=..., "
                         f"received {'no ts.step' if step is None else np.shape(step)}")
    return int(step)
