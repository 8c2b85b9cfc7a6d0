"""Neural-network building blocks, written with the library's own Tensor ops and fused Functions.

    module.py         Module, Sequential, ModuleList
    layers.py         Linear, Conv2d, pooling, Flatten, activations, Dropout, Embedding
    normalization.py  BatchNorm1d/2d, LayerNorm
    rnn.py            RNNCell, RNN, GRUCell, GRU, LSTMCell, LSTM
    attention.py      MultiheadAttention
    loss.py           CrossEntropyLoss, MSELoss, ...
    functional.py     the same layers as functions (import as F)
    init.py           initialisers
"""
from . import functional, init, utils
from .attention import MultiheadAttention
from .layers import (AvgPool2d, Conv2d, Dropout, Embedding, Flatten, GELU, Identity, Linear, LogSoftmax, MaxPool2d,
                     ReLU, Sigmoid, SiLU, Softmax, Tanh)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleList, Sequential
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
