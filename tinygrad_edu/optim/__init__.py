"""Optimizers and learning-rate schedulers with PyTorch's names and update rules.

    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=10)
    for x, y in loader:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    sched.step()
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD
from .adadelta import Adadelta
from .adagrad import Adagrad
from .lbfgs import LBFGS
from .rmsprop import RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS", "lr_scheduler"]
