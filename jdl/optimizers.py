"""The decks' optimizers, under the decks' names and default settings, as Optax transformations.

Every function returns an `optax.GradientTransformation`; pass it to
`jdl.train.init_train_state` / `make_train_step` as is. jdl reimplements nothing: each one
is an Optax alias or a short `optax.chain` of Optax pieces (docs/design.md, section 2). `lr` may be
a float or a schedule `count -> lr` (`jdl.schedules`, `optax.*_schedule`). Notation: g the
gradient, w the parameters, t = 1, 2, ... the update number, all operations elementwise.

    gradient_descent(lr)   w <- w - lr * (gradient on the whole training set)     optax.sgd
    sgd(lr)                w <- w - lr_t g                                        optax.sgd
    momentum(lr, mu)       v <- g + mu v;  w <- w - lr v                          sgd(momentum=)
    momentum(.., "deck")   v <- mu v - lr g;  w <- w + v
                                                   chain(scale_by_learning_rate, trace)
    nesterov(lr, mu)       v <- g + mu v;  w <- w - lr (g + mu v)                 sgd(nesterov=)
    adagrad(lr, eps)       G <- G + g^2;  w <- w - lr g / sqrt(G + eps)           adagrad
    rmsprop(lr, decay)     G <- decay G + (1-decay) g^2;  same step               rmsprop
    rmsprop_momentum(..)   v <- mu v - lr g / sqrt(G + eps);  w <- w + v          rmsprop(momentum=)
    adadelta(rho, eps)     Zeiler 2012, no learning rate                          adadelta(1.0)
    adam(lr, b1, b2, eps)  Kingma & Ba, COMP9321 Algorithm 1 and defaults         adam
    clip(opt, max_norm)    g <- g * min(1, max_norm / ||g||_2) first      chain(clip_by_global_norm)

Sources: `sgd` is Algorithm 8.1 of *Engineering Deep Learning*; `momentum` is Salakhutdinov's,
`momentum(.., "deck")` Algorithm 8.2 of *Engineering Deep Learning* and COMP9321's; `adagrad`
and `rmsprop` are Salakhutdinov's; `rmsprop_momentum` and `adadelta` are COMP9321's.

Where the decks and Optax differ, the deck wins and the docstring says so: Adagrad starts its
accumulator at 0 (Optax: 0.1); Adadelta needs `learning_rate=1.0`, not Optax's default
`None` (which skips the sign flip, so the parameters climb the gradient); the momentum
conventions differ once `lr` changes over time. Epsilon placement: Salakhutdinov puts eps *inside*
the square root for Adagrad and RMSProp, as Optax does by default (PyTorch and Keras put it
outside); Adam has it outside, as in Optax.
"""
from __future__ import annotations

from typing import Any, Callable, Union

import optax

LearningRate = Union[float, Callable[[Any], Any]]

__all__ = ["LearningRate", "gradient_descent", "sgd", "momentum", "nesterov", "adagrad",
           "rmsprop", "rmsprop_momentum", "adadelta", "adam", "clip", "get", "names"]

_NUMBER = (int, float)


def _check_lr(fn: str, lr: Any, name: str = "lr") -> None:
    """Positive number or schedule; arrays (e.g. from `optax.inject_hyperparams`) pass."""
    if isinstance(lr, bool) or not (isinstance(lr, _NUMBER) or callable(lr)
                                    or hasattr(lr, "dtype")):
        raise TypeError(f"{fn}: expected {name} to be a positive number or a schedule "
                        f"count -> {name}, got {lr!r}")
    if isinstance(lr, _NUMBER) and not lr > 0:
        raise ValueError(f"{fn}: expected {name} > 0, got {lr!r}")


def _check_unit(fn: str, name: str, value: Any, *, closed: bool = False) -> None:
    """`value` in [0, 1) (or [0, 1] with `closed`); arrays pass unchecked."""
    if isinstance(value, _NUMBER) and not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
        raise ValueError(f"{fn}: expected {name} in [0, 1{']' if closed else ')'}, got {value!r}")


def _check_eps(fn: str, eps: Any) -> None:
    if isinstance(eps, _NUMBER) and not eps >= 0:
        raise ValueError(f"{fn}: expected eps >= 0, got {eps!r}")


def gradient_descent(lr: LearningRate) -> optax.GradientTransformation:
    """(Full-batch) gradient descent: w <- w - lr * dE/dw (COMP9321, "after a full sweep through
    the training data"; *Engineering Deep Learning*, "batch or deterministic gradient methods").

    The *update* is the SGD update (`optax.sgd(lr)`); what makes it full-batch is the data fed
    to the step: one batch holding the whole training set (`fit(..., batch_size=n_train)`), so
    g is the exact gradient of the training objective. jdl's losses are batch means, so g is
    COMP9321's sum divided by N: scale `lr` by N to reproduce the sum form exactly.
    """
    _check_lr("gradient_descent", lr)
    return optax.sgd(lr)


def sgd(lr: LearningRate) -> optax.GradientTransformation:
    """Stochastic / mini-batch gradient descent: w <- w - lr_t g, with g the mean gradient of a
    mini-batch (*Engineering Deep Learning* Algorithm 8.1, Salakhutdinov; `lr` may be a schedule
    lr_1, lr_2, ...). `optax.sgd(lr)`."""
    _check_lr("sgd", lr)
    return optax.sgd(lr)


def momentum(lr: LearningRate, mu: float = 0.9, convention: str = "optax"
             ) -> optax.GradientTransformation:
    """SGD with (heavy-ball) momentum, v_0 = 0.

    convention="optax" (Salakhutdinov's "exponential average of previous gradients"):
        v <- g + mu v;   w <- w - lr_t v          `optax.sgd(lr, momentum=mu)`
    convention="deck" (*Engineering Deep Learning* Algorithm 8.2; COMP9321 with v negated):
        v <- mu v - lr_t g;   w <- w + v          `optax.chain(optax.scale_by_learning_rate(lr),
                                                               optax.trace(decay=mu))`

    With a constant lr the two give identical parameters (v_deck = -lr v_optax). With a
    schedule they differ: "optax" multiplies the whole accumulated velocity by the *current*
    lr_t (step t moves -lr_t sum_k mu^k g_{t-k}), while "deck" keeps each past gradient scaled
    by the lr of its own step (-sum_k mu^k lr_{t-k} g_{t-k}); so a drop in lr takes effect at
    once in "optax" and fades in over ~1/(1-mu) steps in "deck". The "deck" form needs no
    hand-written code: scaling by -lr_t *before* Optax's `trace` is exactly v <- mu v - lr_t g.
    """
    _check_lr("momentum", lr)
    _check_unit("momentum", "mu", mu)
    if convention == "optax":
        return optax.sgd(lr, momentum=mu)
    if convention == "deck":
        return optax.chain(optax.scale_by_learning_rate(lr), optax.trace(decay=mu))
    raise ValueError(f"momentum: expected convention 'optax' (v <- g + mu v, w <- w - lr v) or "
                     f"'deck' (v <- mu v - lr g, w <- w + v), got {convention!r}")


def nesterov(lr: LearningRate, mu: float = 0.9) -> optax.GradientTransformation:
    """Nesterov momentum, in Optax's form (Bengio et al. 2013):

        v <- g + mu v;   w <- w - lr (g + mu v)         `optax.sgd(lr, momentum=mu, nesterov=True)`

    For a constant lr this is Sutskever et al.'s (2013) look-ahead form
    u <- mu u - lr grad(theta + mu u); theta <- theta + u, with w = theta + mu u the look-ahead
    point: the gradient is always taken at the current parameters, so the train step needs
    no change (tests/test_optimizers.py checks the equivalence by hand).
    """
    _check_lr("nesterov", lr)
    _check_unit("nesterov", "mu", mu)
    return optax.sgd(lr, momentum=mu, nesterov=True)


def adagrad(lr: LearningRate, eps: float = 1e-7, initial_accumulator_value: float = 0.0
            ) -> optax.GradientTransformation:
    """Adagrad (Salakhutdinov; Duchi et al. 2011): per-parameter rates from the sum of all squared
    gradients,

        G <- G + g^2  (G_0 = 0);   w <- w - lr g / sqrt(G + eps)      eps inside the sqrt

    `optax.adagrad(lr, initial_accumulator_value=0.0, eps=eps)`. Deck vs Optax: Optax starts
    G at 0.1 by default (TensorFlow's choice), the deck at 0; eps placement is the same.
    """
    _check_lr("adagrad", lr)
    _check_eps("adagrad", eps)
    return optax.adagrad(lr, initial_accumulator_value=initial_accumulator_value, eps=eps)


def rmsprop(lr: LearningRate, decay: float = 0.9, eps: float = 1e-8
            ) -> optax.GradientTransformation:
    """RMSProp (Salakhutdinov; Hinton 2012): Adagrad with an exponential moving average,

        G <- decay G + (1 - decay) g^2  (G_0 = 0);   w <- w - lr g / sqrt(G + eps)

    `optax.rmsprop(lr, decay, eps)`: eps inside the sqrt as in Salakhutdinov and Optax's default
    (`eps_in_sqrt=True`); PyTorch and Keras use sqrt(G) + eps instead.
    """
    _check_lr("rmsprop", lr)
    _check_unit("rmsprop", "decay", decay)
    _check_eps("rmsprop", eps)
    return optax.rmsprop(lr, decay=decay, eps=eps)


def rmsprop_momentum(lr: LearningRate, decay: float = 0.9, mu: float = 0.9, eps: float = 1e-8
                     ) -> optax.GradientTransformation:
    """RMSProp + momentum (COMP9321, "RMSProp (Advanced Adagrad) + Momentum"; Graves 2013, the
    TensorFlow `RMSPropOptimizer(momentum=)` form):

        G <- decay G + (1 - decay) g^2;   v <- mu v - lr_t g / sqrt(G + eps);   w <- w + v

    i.e. the deck momentum convention on the RMS-rescaled gradient.
    `optax.rmsprop(lr, decay, eps, momentum=mu)`.
    """
    _check_lr("rmsprop_momentum", lr)
    _check_unit("rmsprop_momentum", "decay", decay)
    _check_unit("rmsprop_momentum", "mu", mu)
    _check_eps("rmsprop_momentum", eps)
    return optax.rmsprop(lr, decay=decay, eps=eps, momentum=mu)


def adadelta(rho: float = 0.95, eps: float = 1e-6, lr: LearningRate = 1.0
             ) -> optax.GradientTransformation:
    """Adadelta (COMP9321; Zeiler 2012, Algorithm 1), which needs no learning rate:

        E[g^2] <- rho E[g^2] + (1 - rho) g^2
        dw = -sqrt(E[dw^2] + eps) / sqrt(E[g^2] + eps) * g        (E[dw^2] of the previous step)
        E[dw^2] <- rho E[dw^2] + (1 - rho) dw^2;   w <- w + dw

    Defaults rho=0.95, eps=1e-6 are Zeiler's. `optax.adadelta(learning_rate=lr, rho, eps)`
    with lr=1.0 is exactly this. Deck vs Optax: `optax.adadelta()` defaults to
    `learning_rate=None`, which makes its final `scale_by_learning_rate` the identity, so the
    update is +dw (gradient *ascent*); never pass None. `lr` other than 1 scales dw (Keras'
    Adadelta uses 0.001) without entering the E[dw^2] average.
    """
    _check_unit("adadelta", "rho", rho)
    _check_eps("adadelta", eps)
    _check_lr("adadelta", lr)
    return optax.adadelta(learning_rate=lr, rho=rho, eps=eps)


def adam(lr: LearningRate = 0.001, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
         ) -> optax.GradientTransformation:
    """Adam (COMP9321 Algorithm 1; Kingma & Ba 2015) with the lecture's defaults
    lr (alpha) = 0.001, b1 = 0.9, b2 = 0.999, eps = 1e-8:

        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        m^ = m / (1 - b1^t);   v^ = v / (1 - b2^t);   w <- w - lr m^ / (sqrt(v^) + eps)

    `optax.adam(lr, b1, b2, eps)` (eps outside the sqrt, as in the deck).
    """
    _check_lr("adam", lr)
    _check_unit("adam", "b1", b1)
    _check_unit("adam", "b2", b2)
    _check_eps("adam", eps)
    return optax.adam(lr, b1=b1, b2=b2, eps=eps)


def clip(optimizer: optax.GradientTransformation, max_norm: float
         ) -> optax.GradientTransformation:
    """Clip the gradient by its global L2 norm before `optimizer`:

        g <- g * min(1, max_norm / ||g||_2),   ||g||_2 over all leaves together

    `optax.chain(optax.clip_by_global_norm(max_norm), optimizer)`.
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"clip: expected optimizer to be an optax.GradientTransformation, got "
                        f"{type(optimizer).__name__}")
    if isinstance(max_norm, _NUMBER) and not max_norm > 0:
        raise ValueError(f"clip: expected max_norm > 0, got {max_norm!r}")
    return optax.chain(optax.clip_by_global_norm(max_norm), optimizer)


_REGISTRY: dict[str, Callable[..., optax.GradientTransformation]] = {
    "gradient_descent": gradient_descent, "gd": gradient_descent,
    "sgd": sgd, "momentum": momentum, "nesterov": nesterov,
    "adagrad": adagrad, "rmsprop": rmsprop, "rmsprop_momentum": rmsprop_momentum,
    "adadelta": adadelta, "adam": adam,
}


def names() -> list[str]:
    """The names `get` accepts."""
    return sorted(_REGISTRY)


def get(name: str | optax.GradientTransformation, **kwargs: Any) -> optax.GradientTransformation:
    """An optimizer by name: `get("momentum", lr=0.1, mu=0.9)`; `get("adam")` uses the deck's
    defaults. Names are case-insensitive ("RMSProp" works); an Optax transformation passes
    through unchanged.
    """
    if isinstance(name, optax.GradientTransformation):
        if kwargs:
            raise TypeError(f"get: expected no keyword arguments with an optimizer instance, got "
                            f"{sorted(kwargs)}")
        return name
    if not isinstance(name, str):
        raise TypeError(f"get: expected an optimizer name (one of {names()}) or an "
                        f"optax.GradientTransformation, got {type(name).__name__}")
    factory = _REGISTRY.get(name.lower())
    if factory is None:
        raise ValueError(f"get: expected an optimizer name in {names()}, got {name!r}")
    try:
        return factory(**kwargs)
    except TypeError as e:
        raise TypeError(f"get({name!r}): {e}") from None
