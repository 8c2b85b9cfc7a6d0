"""`tg.device`: a device as an object, as in PyTorch (`torch.device("cuda" if ok else "cpu")`).

A tensor's `.device` is one of these. It prints and compares like its name, so
`t.device == "cpu"` is true and f"{t.device}" is "cpu"; `tg.device("cuda:0")` and
`tg.device("cuda", 0)` name the one GPU tinygrad_edu uses.
"""


class device:  # noqa: N801  (PyTorch's name)
    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002  (PyTorch's argument name)
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        name = str(type)
        if ":" in name:
            name, _, number = name.partition(":")
            if index is not None or not number.isdigit():
                raise ValueError(f"device: invalid device string {type!r}; expected 'cpu', 'cuda' or 'cuda:N'")
            index = int(number)
        if name not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device type {name!r}; tinygrad_edu has 'cpu' and 'cuda'")
        if index is not None and (name == "cpu" and index != 0 or name == "cuda" and index != 0):
            raise ValueError(f"device: {name}:{index} is not available; tinygrad_edu uses one device of each type "
                             f"('cpu' and 'cuda:0')")
        self.type, self.index = name, index

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except ValueError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type   # one device per type: cuda and cuda:0 are the same one here

    def __hash__(self):
        return hash(self.type)
