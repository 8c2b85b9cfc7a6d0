"""Data: datasets, the DataLoader, and the real data sets used by the lessons.

    from tinygrad_edu.data import DataLoader, TensorDataset, digits
    loader = DataLoader(TensorDataset(*digits()), batch_size=64, shuffle=True, seed=0)
"""
from .dataloader import DataLoader, default_collate
from .dataset import Dataset, Subset, TensorDataset, random_split
from .datasets import CIFAR10, MNIST, CharTokenizer, digits, read_cifar10_binary, read_idx, tiny_shakespeare
from .download import ChecksumError, data_root, fetch

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate", "digits",
           "tiny_shakespeare", "CharTokenizer", "MNIST", "CIFAR10", "read_idx", "read_cifar10_binary", "data_root",
           "fetch", "ChecksumError"]
