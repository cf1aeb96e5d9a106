"""`jdl.nn`: the Layer contract, combinators and layers (docs/design.md, section 1).

A layer is `Layer(init, apply)`:

    init(key, input_shape)                            -> (output_shape, params, state)
    apply(params, state, x, *, key=None, train=False) -> (y, new_state)

Example::

    import jax, jdl.nn as nn
    model = nn.serial(nn.Flatten(), nn.Dense(128), nn.Relu(), nn.Dropout(0.2), nn.Dense(10))
    out_shape, params, state = model.init(jax.random.key(0), (1, 28, 28, 1))
    logits, state = model.apply(params, state, x, key=jax.random.key(1), train=True)
"""
from jdl.nn._activation import AbsRelu as AbsRelu
from jdl.nn._activation import Elu as Elu
from jdl.nn._activation import HardTanh as HardTanh
from jdl.nn._activation import Identity as Identity
from jdl.nn._activation import LeakyRelu as LeakyRelu
from jdl.nn._activation import LogSoftmax as LogSoftmax
from jdl.nn._activation import PReLU as PReLU
from jdl.nn._activation import Relu as Relu
from jdl.nn._activation import Sigmoid as Sigmoid
from jdl.nn._activation import Softmax as Softmax
from jdl.nn._activation import Step as Step
from jdl.nn._activation import Tanh as Tanh
from jdl.nn._activation import activation_layer as activation_layer
from jdl.nn._activation import elementwise as elementwise
from jdl.nn._cells import Cell as Cell
from jdl.nn._cells import GRUCell as GRUCell
from jdl.nn._cells import LSTMCell as LSTMCell
from jdl.nn._cells import SimpleRNNCell as SimpleRNNCell
from jdl.nn._combinators import parallel as parallel
from jdl.nn._combinators import residual as residual
from jdl.nn._combinators import serial as serial
from jdl.nn._conv import Conv as Conv
from jdl.nn._conv import Padding as Padding
from jdl.nn._conv_grad import conv2d as conv2d
from jdl.nn._conv_transpose import ConvTranspose as ConvTranspose
from jdl.nn._conv_transpose import flip_kernel as flip_kernel
from jdl.nn._conv_transpose import true_convolve2d as true_convolve2d
from jdl.nn._cut import cut as cut
from jdl.nn._cut import cut_subtree as cut_subtree
from jdl.nn._dense import Dense as Dense
from jdl.nn._dropout import Dropout as Dropout
from jdl.nn._embedding import Embedding as Embedding
from jdl.nn._keys import KeyReuseError as KeyReuseError
from jdl.nn._keys import check_keys as check_keys
from jdl.nn._keys import note_key as note_key
from jdl.nn._layer import Layer as Layer
from jdl.nn._local import LocallyConnected2D as LocallyConnected2D
from jdl.nn._lrn import LocalResponseNorm as LocalResponseNorm
from jdl.nn._wrappers import augmenting as augmenting
from jdl.nn._wrappers import eval_mode as eval_mode
from jdl.nn._wrappers import training_transform as training_transform
from jdl.nn._wrappers import wrapped_layer as wrapped_layer
from jdl.nn._norm import BatchNorm as BatchNorm
from jdl.nn._norm import LayerNorm as LayerNorm
from jdl.nn._pool import AvgPool as AvgPool
from jdl.nn._pool import GlobalAvgPool as GlobalAvgPool
from jdl.nn._pool import MaxPool as MaxPool
from jdl.nn._reshape import Flatten as Flatten
from jdl.nn._recurrent import RNN as RNN
from jdl.nn._recurrent import Bidirectional as Bidirectional
from jdl.nn._recurrent import scan_cell as scan_cell
from jdl.nn._reshape import Reshape as Reshape
from jdl.nn._sequence import drop_lengths as drop_lengths
from jdl.nn._sequence import lengths_from_padding as lengths_from_padding
from jdl.nn._sequence import on_values as on_values

__all__ = [
    "Layer", "serial", "parallel", "residual", "cut", "cut_subtree", "eval_mode",
    "augmenting", "training_transform", "wrapped_layer", "Padding",
    "check_keys", "note_key", "KeyReuseError",
    "Dense", "Conv", "LocallyConnected2D", "MaxPool", "AvgPool", "GlobalAvgPool", "Flatten",
    "Reshape",
    "Dropout", "BatchNorm", "LayerNorm",
    "ConvTranspose", "flip_kernel", "true_convolve2d", "LocalResponseNorm",
    "Sigmoid", "Tanh", "Relu", "LeakyRelu", "PReLU", "AbsRelu", "Elu", "HardTanh", "Softmax",
    "LogSoftmax", "Step", "Identity", "elementwise", "activation_layer",
    "Embedding", "Cell", "SimpleRNNCell", "GRUCell", "LSTMCell", "RNN", "Bidirectional",
    "scan_cell", "lengths_from_padding", "on_values", "drop_lengths",
]
