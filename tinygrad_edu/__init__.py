"""tinygrad_edu: a small, readable autograd engine with PyTorch's names.

    import tinygrad_edu as tg
    x = tg.randn(3, 4, requires_grad=True)
    (x.tanh() * 2).sum().backward()
    x.grad
"""
from . import accelerator, cuda, viz
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .device import device
from .dtypes import bool_ as bool  # noqa: A001  (PyTorch's name)
from .dtypes import float32, float64, int64
from .factories import (arange, eye, full, full_like, linspace, ones, ones_like, rand, rand_like, randint, randn,
                        randn_like, zeros, zeros_like)
from .gradcheck import GradcheckError, gradcheck
from .profiler import profile
from .numerical_gradient import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse, rel_error
from .random import manual_seed
from .serialization import load, save
from .tensor import Tensor, cat, stack, where
from .functions import *  # noqa: F401,F403  (tg.exp(x), tg.sum(x, dim), ...: the function form of methods)

tensor = Tensor
float = float32  # noqa: A001
double = float64
long = int64

from . import data, nn, optim  # noqa: E402  (after Tensor: they are built from it)
from . import distributions, vision  # noqa: E402  (built from nn.functional and data)

__version__ = "0.1.0"
