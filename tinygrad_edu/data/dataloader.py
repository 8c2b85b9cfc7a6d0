"""`DataLoader`: iterate over a dataset in (optionally shuffled) batches.

    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
    for xb, yb in loader:
        ...

Shuffling uses the loader's own numpy Generator, never numpy's global state:
  * `seed=n`: one Generator made from n when the loader is built; each epoch draws the next
    permutation from it, so epochs differ from each other and a rerun repeats them exactly;
  * `seed=None`: each epoch makes a Generator from a seed drawn from the library's generator
    (`tinygrad_edu.random.generator()`), so `tg.manual_seed(n)` makes the whole run reproducible,
    as `torch.manual_seed` does for PyTorch's DataLoader.

A TensorDataset (not a subclass that overrides `__getitem__`), or a `Subset` of one, with the default
collate is batched with one fancy index per tensor: no Python loop over examples.

Every batch is loaded in the main process. PyTorch's multiprocessing options (`num_workers`,
`pin_memory`, `persistent_workers`, `prefetch_factor`, `worker_init_fn`) are accepted and checked as
PyTorch checks them, so PyTorch code runs unchanged, but they change nothing: there are no worker
processes (so `worker_init_fn` is never called, as in PyTorch with num_workers=0) and no pinned memory.
"""
import numbers

import numpy as np

from .. import random as _random
from ..tensor import Tensor, stack
from .dataset import Subset, TensorDataset

__all__ = ["DataLoader", "default_collate"]


def default_collate(batch):
    """Stack a list of examples into a batch, like PyTorch's default_collate.

    Tensors are stacked along a new dim 0; numpy arrays are stacked and become tensors; Python ints
    and bools become int64 / bool tensors, Python floats float64 tensors (as in PyTorch); strings
    stay a list; tuples and lists of fields are collated field by field (returned as a list);
    dicts key by key.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.hasobject:
            raise TypeError("default_collate: cannot batch object arrays")
        return Tensor(np.stack(batch))
    if isinstance(elem, (bool, np.bool_)):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(elem, (numbers.Integral, np.integer)):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, (numbers.Real, np.floating)):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, dict):
        return {key: default_collate([example[key] for example in batch]) for key in elem}
    if isinstance(elem, (tuple, list)):
        n = len(elem)
        if any(len(example) != n for example in batch):
            raise ValueError(f"default_collate: examples in a batch have different numbers of fields: "
                             f"{sorted({len(example) for example in batch})}")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: don't know how to batch examples of type {type(elem).__name__}; "
                    f"pass collate_fn=")


class DataLoader:
    """Batches of `dataset`, in order or shuffled.

    DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, collate_fn=None,
               num_workers=0, pin_memory=False, worker_init_fn=None, *, prefetch_factor=None,
               persistent_workers=False)

    batch_size  examples per batch; None yields single examples without collating (as in PyTorch)
    shuffle     a new random order every epoch (see the module docstring for seeding)
    drop_last   drop the last batch when it is smaller than batch_size
    seed        seed of the loader's own numpy Generator; None draws from tinygrad_edu's generator
    collate_fn  turns a list of examples into a batch; default `default_collate`
    num_workers, pin_memory, worker_init_fn, prefetch_factor, persistent_workers
                PyTorch's multiprocessing options: checked like PyTorch's, then ignored; every batch
                is loaded in the main process (see the module docstring)
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, collate_fn=None,
                 num_workers=0, pin_memory=False, worker_init_fn=None, *, prefetch_factor=None,
                 persistent_workers=False):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                       or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive integer or None, got {batch_size!r}")
        if batch_size is None and drop_last:
            raise ValueError("DataLoader: drop_last=True needs a batch_size")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        _check_worker_options(num_workers, worker_init_fn, prefetch_factor, persistent_workers)
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.collate_fn = collate_fn
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers > 0 else prefetch_factor
        self.persistent_workers = bool(persistent_workers)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        rng = self._rng
        if rng is None:  # a fresh Generator per epoch, seeded from the library's (manual_seed-able) one
            rng = np.random.default_rng(int(_random.generator().integers(0, 2 ** 63 - 1)))
        return rng.permutation(n).astype(np.int64, copy=False)

    def _fast(self):
        """(tensor dataset, index map) when batches can be cut from a TensorDataset's tensors with one fancy
        index each: the dataset itself, or Subsets of one (the map takes the loader's indices to the
        TensorDataset's); None otherwise."""
        if self.collate_fn is not None:
            return None
        dataset, index_map = self.dataset, None
        while type(dataset) is Subset:
            indices = dataset.indices.numpy() if isinstance(dataset.indices, Tensor) else dataset.indices
            try:
                step = np.asarray(indices, dtype=np.int64).reshape(-1)
            except (TypeError, ValueError):
                return None
            index_map = step if index_map is None else step[index_map]
            dataset = dataset.dataset
        if isinstance(dataset, TensorDataset) and type(dataset).__getitem__ is TensorDataset.__getitem__:
            return dataset, index_map
        return None

    def __iter__(self):
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        n, bs = len(order), self.batch_size
        stop = n - n % bs if self.drop_last else n
        fast = self._fast()
        collate = self.collate_fn or default_collate
        for start in range(0, stop, bs):
            index = order[start:start + bs]
            if fast:
                tensors, index_map = fast
                rows = index if index_map is None else index_map[index]
                yield [t[rows] for t in tensors.tensors]
            else:
                yield collate([self.dataset[int(i)] for i in index])

    def __len__(self):
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})")


def _check_worker_options(num_workers, worker_init_fn, prefetch_factor, persistent_workers):
    """PyTorch's checks of its multiprocessing options, with its messages."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral):
        raise TypeError(f"DataLoader: num_workers must be an int, got {type(num_workers).__name__}")
    if num_workers < 0:
        raise ValueError("DataLoader: num_workers option should be non-negative; use num_workers=0 to disable "
                         "multiprocessing.")
    if worker_init_fn is not None and not callable(worker_init_fn):
        raise TypeError(f"DataLoader: worker_init_fn must be callable or None, got {type(worker_init_fn).__name__}")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing."
                         "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
    if prefetch_factor is not None and (isinstance(prefetch_factor, bool) or
                                        not isinstance(prefetch_factor, numbers.Integral) or prefetch_factor < 0):
        raise ValueError(f"DataLoader: prefetch_factor must be a non-negative int, got {prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
