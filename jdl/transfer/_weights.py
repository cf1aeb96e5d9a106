"""Pretrained weights from one checksummed file, read into a model's tree.

Saving has one way, `jdl.checkpoint.save_weights(path, {"params": ts.params, "state": ts.state})`;
`load_pretrained` reads such a file back for a model without building its parameters first."""
from __future__ import annotations

import os
from typing import Any, Sequence

import jax

from jdl.nn import Layer
from jdl.transfer._features import _check_layer

# ---- weights from a local file --------------------------------------------------------------

def load_pretrained(path: str | os.PathLike, model: Layer, input_shape: Sequence[int]
                    ) -> tuple[Any, Any]:
    """`(params, state)` of `model` from a weights file holding `{"params": ..., "state": ...}`
    (written by `jdl.checkpoint.save_weights`; a model without batch norm has `"state": {}`).

    The target tree comes from `jax.eval_shape(model.init, ...)` for `input_shape` (batch axis
    included, any batch size): nothing is initialised or compiled, the file fixes every value.
    The file is verified (magic, header, sha256) and its tree must equal the model's exactly:
    a different architecture, head width or input size raises ValueError listing each
    mismatching path (`params/output/w: expected shape (84, 5) float32, received shape
    (84, 10) float32`). To reuse a file for a model with a different head, load it with the
    model it was saved from, then `transplant` / `init_transfer_state`.
    """
    _check_layer("load_pretrained", model)
    from jdl.checkpoint import load_weights

    shape = tuple(int(d) for d in input_shape)
    params, state = jax.eval_shape(lambda k: model.init(k, shape)[1:], jax.random.key(0))
    try:
        tree = load_weights(path, {"params": params, "state": state})
    except ValueError as e:
        e.add_note(f"load_pretrained: the target is {model!r} on input_shape {shape}; the file "
                   f"must hold {{'params': ..., 'state': ...}} of that model (checkpoint.save_weights)")
        raise
    return tree["params"], tree["state"]
