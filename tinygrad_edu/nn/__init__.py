"""Neural-network building blocks, written with the library's own Tensor ops and fused Functions.

    module.py         Module, Sequential, ModuleList
    layers.py         Linear, Conv1d/2d, ConvTranspose2d, pooling, Flatten, activations, Dropout, Embedding
    normalization.py  BatchNorm1d/2d, LayerNorm
    rnn.py            RNNCell, RNN, GRUCell, GRU, LSTMCell, LSTM
    attention.py      MultiheadAttention
    transformer.py    TransformerEncoder/Decoder(Layer), Transformer
    loss.py           CrossEntropyLoss, MSELoss, ...
    functional.py     the same layers as functions (import as F)
    init.py           initialisers
"""
from . import functional, init, utils
from .attention import MultiheadAttention
from .layers import (ELU, AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, Dropout, Dropout2d, Embedding, Flatten, GELU,
                     Identity, LeakyReLU, Linear, LogSoftmax, MaxPool2d, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .module import Module, ModuleList, Sequential
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)
