"""Run a PyTorch program on tinygrad_edu, unchanged: `import torch` gets tinygrad_edu.

    python -m tinygrad_edu.torch_compat script.py [args]      (or: tinygrad-edu torch script.py [args])

`install()` puts a finder first on `sys.meta_path` that answers every import of `torch`,
`torch.*`, `torchvision` and `torchvision.*` with a *proxy module*: an empty module
whose attributes are looked up, on first use, in the tinygrad_edu module that plays that
part (MODULES below), then in a few aliases (ALIASES). A name tinygrad_edu does not have
raises AttributeError (or ImportError for a module) saying so:

    tinygrad_edu does not implement torch.fft (yet)

Modules that scripts only import or configure (`torch.backends.cudnn.benchmark = True`,
`torch.onnx`, `torch.nn.parallel`) are proxies with nothing behind them: setting an
attribute works, and only *using* something they lack raises.
"""
import importlib
import importlib.abc
import importlib.machinery
import sys
import types

# torch module -> the tinygrad_edu module that plays its part (None: a module scripts only configure)
MODULES = {
    "torch": "tinygrad_edu",
    "torch.nn": "tinygrad_edu.nn",
    "torch.nn.functional": "tinygrad_edu.nn.functional",
    "torch.nn.init": "tinygrad_edu.nn.init",
    "torch.nn.utils": "tinygrad_edu.nn.utils",
    "torch.nn.parameter": "tinygrad_edu.nn.parameter",
    "torch.nn.modules": "tinygrad_edu.nn",
    "torch.nn.parallel": None,
    "torch.optim": "tinygrad_edu.optim",
    "torch.optim.lr_scheduler": "tinygrad_edu.optim.lr_scheduler",
    "torch.utils": None,
    "torch.utils.data": "tinygrad_edu.data",
    "torch.distributions": "tinygrad_edu.distributions",
    "torch.cuda": "tinygrad_edu.cuda",
    "torch.accelerator": "tinygrad_edu.accelerator",
    "torch.autograd": "tinygrad_edu.autograd",
    "torch.backends": None,
    "torch.backends.cudnn": None,
    "torch.backends.mps": None,
    "torch.onnx": None,
    "torchvision": "tinygrad_edu.vision",
    "torchvision.datasets": "tinygrad_edu.vision.datasets",
    "torchvision.transforms": "tinygrad_edu.vision.transforms",
    "torchvision.utils": "tinygrad_edu.vision.utils",
}

# names a proxy answers itself: PyTorch spellings of things tinygrad_edu has under another name, or that are
# harmless to accept
ALIASES = {
    "torch": {"inference_mode": "tinygrad_edu.no_grad", "set_grad_enabled": "tinygrad_edu.autograd.set_grad_enabled",
              "FloatTensor": "tinygrad_edu.Tensor", "float16": "tinygrad_edu.float32"},
    "torch.cuda": {"manual_seed": "tinygrad_edu.torch_compat._ignore", "manual_seed_all":
                   "tinygrad_edu.torch_compat._ignore", "synchronize": "tinygrad_edu.torch_compat._ignore",
                   "device_count": "tinygrad_edu.accelerator.device_count",
                   "empty_cache": "tinygrad_edu.torch_compat._ignore"},
    "torch.backends.mps": {"is_available": "tinygrad_edu.torch_compat._false",
                           "is_built": "tinygrad_edu.torch_compat._false"},
    "torch.backends.cudnn": {"is_available": "tinygrad_edu.cuda.is_available"},
    "torch.autograd": {"Variable": "tinygrad_edu.Tensor"},     # old code: Variable(x, requires_grad=True)
}


def _ignore(*args, **kwargs):
    """Accepted and ignored (seeding the GPU's generator, synchronising: tinygrad_edu has one generator)."""


def _false(*args, **kwargs):
    return False


class ProxyModule(types.ModuleType):
    """`torch.X` in a script: attributes come from the tinygrad_edu module behind it, or are refused clearly."""

    def __init__(self, name, target):
        super().__init__(name)
        self.__torch_target__ = target
        self.__path__ = []          # a package, so that `import torch.X.Y` reaches the finder

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        alias = ALIASES.get(self.__name__, {}).get(attr)
        if alias is not None:
            module, _, name = alias.rpartition(".")
            return getattr(importlib.import_module(module), name)
        child = f"{self.__name__}.{attr}"
        if child in MODULES:
            return importlib.import_module(child)
        target = self.__torch_target__
        if target is not None:
            try:
                module = importlib.import_module(target)
            except ImportError:
                module = None
            if module is not None and hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"tinygrad_edu does not implement {child} (yet)")


class TorchFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of torch, torch.*, torchvision and torchvision.* with proxy modules."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in ("torch", "torchvision"):
            return None
        if name not in MODULES:
            raise ImportError(f"tinygrad_edu does not implement {name} (yet)", name=name)
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        return ProxyModule(spec.name, MODULES[spec.name])

    def exec_module(self, module):
        pass


def install():
    """Make `import torch` (and torchvision) give tinygrad_edu in this process, from now on."""
    for name in [n for n in sys.modules if n.partition(".")[0] in ("torch", "torchvision")]:
        del sys.modules[name]              # a real torch imported earlier must not answer later imports
    if not any(isinstance(f, TorchFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, TorchFinder())


def uninstall():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, TorchFinder)]
    for name in [n for n in sys.modules if n.partition(".")[0] in ("torch", "torchvision")]:
        if isinstance(sys.modules[name], ProxyModule):
            del sys.modules[name]


def run(script, args=()):
    """Run a PyTorch script file as __main__ with torch bound to tinygrad_edu."""
    import runpy
    install()
    sys.argv = [str(script), *args]
    runpy.run_path(str(script), run_name="__main__")
