"""`Dataset`, `TensorDataset`, `Subset` and `random_split`, with PyTorch's names and behaviour."""
import itertools
import math
import numbers
import warnings

import numpy as np

from .. import random as _random
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split"]


class Dataset:
    """A sized, indexable collection of examples: subclasses define `__getitem__(i)` and `__len__()`.

    `DataLoader` calls `dataset[i]` for each index of a batch and stacks the results
    (see `DataLoader`'s `collate_fn`).
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")


class TensorDataset(Dataset):
    """Examples made of rows of tensors that share their first dim: `dataset[i] == (t0[i], t1[i], ...)`.

    numpy arrays are accepted and turned into CPU tensors (keeping their dtype as far as
    tinygrad_edu supports it). `DataLoader` slices whole batches of a TensorDataset with one
    fancy index per tensor instead of looping over examples.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        converted = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                t = Tensor(t)
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}; expected a Tensor or a "
                                f"numpy array")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a 0-d tensor; every tensor needs a first dim "
                                 f"that indexes the examples")
            converted.append(t)
        sizes = [t.shape[0] for t in converted]
        if len(set(sizes)) > 1:
            shapes = ", ".join(f"tensor {i}: {tuple(t.shape)}" for i, t in enumerate(converted))
            raise ValueError(f"TensorDataset: all tensors must have the same size in dim 0 (the number of "
                             f"examples), got {shapes}")
        self.tensors = tuple(converted)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} examples, shapes {[tuple(t.shape) for t in self.tensors]})"


class Subset(Dataset):
    """The examples of `dataset` at `indices`, in that order: `Subset(d, idx)[i] == d[idx[i]]`.

    A list of positions is passed on as one list (`d[[idx[i] for i in positions]]`), as in PyTorch.
    `DataLoader` batches a Subset of a TensorDataset with one fancy index per tensor, like the
    TensorDataset itself.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)

    def __repr__(self):
        return f"Subset({len(self)} of {type(self.dataset).__name__} of {len(self.dataset)})"


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping random `Subset`s of the given lengths, as PyTorch does.

    lengths    counts summing to len(dataset), or fractions summing to 1: each split then gets
               floor(len(dataset) * fraction) examples and the remaining ones are dealt out one at a
               time to the splits in order (so [0.8, 0.2] of 1797 gives 1438 and 359)
    generator  a numpy Generator to draw the permutation from; None: the library's generator
               (`tinygrad_edu.random.generator()`), so `tg.manual_seed(n)` makes the split repeatable

    One permutation of range(len(dataset)) is cut into consecutive pieces of those lengths.
    """
    if generator is None:
        generator = _random.generator()
    elif not isinstance(generator, np.random.Generator):
        raise TypeError(f"random_split: generator must be a numpy Generator (np.random.default_rng(seed)) or None, "
                        f"got {type(generator).__name__}")
    lengths = list(lengths)
    if not lengths or any(isinstance(x, bool) or not isinstance(x, numbers.Real) for x in lengths):
        raise TypeError(f"random_split: lengths must be a non-empty list of counts or fractions, got {lengths!r}")
    n = len(dataset)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        counts = []
        for i, fraction in enumerate(lengths):
            if fraction < 0 or fraction > 1:
                raise ValueError(f"random_split: Fraction at index {i} is not between 0 and 1 (got {fraction})")
            counts.append(int(math.floor(n * fraction)))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = counts
    if any(not isinstance(x, numbers.Integral) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions summing to 1, "
                         f"got {lengths!r}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: Sum of input lengths does not equal the length of the input dataset! "
                         f"(lengths {lengths} sum to {sum(lengths)}, the dataset has {n} examples)")
    order = generator.permutation(n).tolist()
    return [Subset(dataset, order[end - length:end]) for end, length in zip(itertools.accumulate(lengths), lengths)]
