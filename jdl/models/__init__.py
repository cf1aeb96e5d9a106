"""`jdl.models`: the model zoo; each model is a function returning a `jdl.nn.Layer`."""
from jdl.models._lenet import lenet5 as lenet5
from jdl.models._mlp import logistic_regression as logistic_regression
from jdl.models._mlp import mlp as mlp
from jdl.models._small_cnn import fashion_cnn as fashion_cnn

__all__ = ["mlp", "logistic_regression", "lenet5", "fashion_cnn"]
