"""`Dataset` and `TensorDataset`, with PyTorch's names and behaviour."""
import numpy as np

from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset"]


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
