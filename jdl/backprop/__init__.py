"""Backpropagation written out: Loo's four delta equations for an MLP
(docs/curriculum.md, chapter 3).

For a plain multilayer perceptron ``z^l = a^{l-1} w^l + b^l``, ``a^l = g(z^l)`` (``a^0 = x``),
with the error term ``delta^l = dC/dz^l``, Loo (Nielsen's notation) gives

    BP1  delta^L = grad_a C (.) g'(z^L)                      output error
    BP2  delta^l = ((W^{l+1})^T delta^{l+1}) (.) g'(z^l)     error moved back one layer
    BP3  dC/db^l_j  = delta^l_j
    BP4  dC/dw^l_jk = a^{l-1}_k delta^l_j

:func:`backward` computes exactly these, with matrix products and no ``jax.grad``, and
:func:`numerical_gradient` / :func:`gradient_check` compare any gradient with central finite
differences (the CS231n check). ``jax.grad`` is the reference the tests hold it to (1e-6).

Layout. jdl is batch-first with ``w: (in, out)`` (``jdl.nn.Dense``): a batch of ``n`` examples is
a stack of row vectors, ``z^l = a^{l-1} @ w^l + b^l`` with ``a^{l-1}: (n, in)`` and
``z^l, delta^l: (n, out)``. The deck's ``W^{l+1}`` is ``(out, in)``, i.e. ``w^{l+1}.T``, so BP2
reads ``delta^l = (delta^{l+1} @ w^{l+1}.T) * g'(z^l)``, BP3 ``db^l = sum_x delta^l_x`` and BP4
``dw^l = a^{l-1}.T @ delta^l`` (the batch sum of the outer products ``a^{l-1}_x delta^l_x``).

Cost convention: C is the **mean over the n examples** of a per-example cost, as in Loo's
``C = 1/2n sum_x ||y - a^L||^2`` and as ``jdl.losses.reduce`` (mean) does, so every per-example
``delta^L`` carries a factor 1/n. The costs:

* ``"quadratic"``: ``C_x = 1/2 ||a^L - y||^2`` (``jdl.losses.quadratic``); ``grad_a C = a^L - y``;
  any output activation (BP1 in full).
* ``"cross_entropy"``: ``C_x = -sum_j [y log a + (1 - y) log(1 - a)]`` with sigmoid outputs;
  ``sigma'`` cancels and ``delta^L = a^L - y`` (Loo;
  ``jdl.losses.sigmoid_binary_cross_entropy`` on the logits ``z^L``).
* ``"log_likelihood"``: ``C_x = -log a^L_y`` with softmax outputs; ``delta^L = a^L - onehot(y)``
  (``jdl.losses.softmax_cross_entropy`` on the logits ``z^L``).

Params: the dict of :func:`jdl.models.mlp` (``{"dense_0": {"w", "b"}, ..., "dense_{L-1}"}``;
batch norm is refused; dropout has no params and is treated as at evaluation time, the
identity), the ``{"dense": {"w", "b"}}`` of :func:`jdl.models.logistic_regression`, or a list of
``{"w", "b"}`` dicts. Gradients come back in the same structure. Inputs ``(n, ...)`` are
flattened to ``(n, in)`` as ``mlp``'s ``Flatten`` does. Everything here is pure ``jnp``:
``jax.jit(backward, static_argnames=("activation", "cost", "output_activation"))`` works.
"""
from jdl.backprop._derivatives import ACTIVATIONS as ACTIVATIONS
from jdl.backprop._derivatives import COSTS as COSTS
from jdl.backprop._derivatives import OUTPUT_ACTIVATIONS as OUTPUT_ACTIVATIONS
from jdl.backprop._derivatives import derivative as derivative
from jdl.backprop._equations import backward as backward
from jdl.backprop._equations import forward as forward
from jdl.backprop._equations import total_cost as total_cost
from jdl.backprop._gradient_check import GradientCheck as GradientCheck
from jdl.backprop._gradient_check import gradient_check as gradient_check
from jdl.backprop._gradient_check import numerical_gradient as numerical_gradient

__all__ = ["ACTIVATIONS", "OUTPUT_ACTIVATIONS", "COSTS", "derivative", "forward", "backward",
           "total_cost", "numerical_gradient", "gradient_check", "GradientCheck"]
