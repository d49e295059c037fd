"""Importing the peer libraries (``benchmarks/requirements.txt``), none of which the book needs.

:func:`load` returns the module, or the reason it cannot be used ("not installed", or the import error), so
a missing peer makes its rows say so instead of stopping the run.

smalldiffusion and denoising-diffusion-pytorch import torchvision at the top of their packages, for image
transforms that none of the timed code uses. The torchvision wheel on PyPI is built against CUDA torch and
fails to import next to a CPU build of torch (its operators do not register). When the real torchvision
cannot be imported, :func:`load` installs an empty stand-in for it (every attribute, and what calling it
returns, an inert placeholder), so that those packages import; the stand-in is used only inside this benchmark process.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any


class _Placeholder:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> _Placeholder:
        return _Placeholder(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> _Placeholder:
        return _Placeholder(f"{self._name}()")  # e.g. a transform built at import time, never applied here

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)


class _StubModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Placeholder(f"{self.__name__}.{attr}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, root: str) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == self.root or fullname.startswith(self.root + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


STUBBED: list[str] = []


def _ensure_torchvision() -> None:
    if "torchvision" in sys.modules and "torchvision" not in STUBBED:
        return
    try:
        importlib.import_module("torchvision")
        return
    except Exception:  # ImportError, or RuntimeError from a CUDA-built wheel next to CPU torch
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    if "torchvision" not in STUBBED:
        sys.meta_path.insert(0, _StubFinder("torchvision"))
        STUBBED.append("torchvision")


def load(name: str) -> tuple[types.ModuleType | None, str]:
    """``(module, "ok")`` or ``(None, why)`` for a peer package."""
    if importlib.util.find_spec(name.split(".")[0]) is None:
        return None, "not installed"
    if name.split(".")[0] in ("smalldiffusion", "denoising_diffusion_pytorch"):
        _ensure_torchvision()
    try:
        return importlib.import_module(name), "ok"
    except ImportError as err:
        return None, f"not installed ({err})"
    except Exception as err:  # a broken install must not stop the other rows
        return None, f"import failed: {type(err).__name__}: {err}"


def version(name: str) -> str | None:
    try:
        from importlib.metadata import version as _version
        return _version(name)
    except Exception:
        return None
