"""Input checks shared by `fit`, `fit_population`, `evaluate` and `predict`: each error names
the argument, what was expected and what was received."""
from __future__ import annotations

import numpy as np


def check_pair(data, name: str) -> tuple:
    """`data` as `(x, y)` with as many examples in x as in y."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name}: expected a pair (x, y), got {type(data).__name__}")
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"{name}: expected x and y with the same number of examples, got "
                         f"{len(x)} and {len(y)}")
    return x, y


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def check_training_inputs(train_data, batch_size, val_data, eval_step, steps_per_call
                          ) -> tuple:
    """The checks every training loop makes: returns `(x, y, batch_size, steps_per_call)`."""
    x, y = check_pair(train_data, "train_data")
    n = len(x)
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size: expected at most the number of training examples ({n}), "
                         f"got {batch_size}")
    if val_data is not None:
        check_pair(val_data, "val_data")
        if eval_step is None:
            raise ValueError("eval_step: expected an eval step (make_eval_step(...)) when val_data "
                             "is given, got None")
    return x, y, batch_size, check_positive_int(steps_per_call, "steps_per_call")
