"""The public API is declared: each package's ``__all__`` lists exactly the names its
``__init__`` exports (in the manner of httpx's ``tests/test_exported_members.py``), every
module's ``__all__`` names things that exist, and the package ships ``py.typed``."""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import inspect
import pkgutil
import re
from collections import Counter
from types import ModuleType

import pytest

import gridshare

WALKED = list(pkgutil.walk_packages(gridshare.__path__, "gridshare."))
PACKAGES = ["gridshare", *sorted(info.name for info in WALKED if info.ispkg)]
DECLARES_ALL = re.compile(r"^__all__\b", re.MULTILINE)


def _declares_all(name: str) -> bool:
    """Whether module ``name``'s source assigns ``__all__`` (read, not imported: some
    modules, such as the Alembic environment, only run inside their framework)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None
    assert spec.origin is not None
    with open(spec.origin, encoding="utf-8") as source:
        return bool(DECLARES_ALL.search(source.read()))


MODULES_WITH_ALL = sorted(
    info.name for info in WALKED if not info.ispkg and _declares_all(info.name)
)


def _exported(module: ModuleType) -> set[str]:
    """The public names bound in ``module`` other than its submodules and ``__future__``
    features: what ``from module import *`` would offer without ``__all__``."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and type(value).__module__ != "__future__"  # from __future__ import annotations
    }


def _check_all(module: ModuleType) -> list[str]:
    listed: list[str] = list(module.__all__)
    repeated = sorted(name for name, count in Counter(listed).items() if count > 1)
    assert not repeated, f"{module.__name__}.__all__ lists {repeated} more than once"
    missing = sorted(name for name in listed if not hasattr(module, name))
    assert not missing, f"{module.__name__}.__all__ lists {missing}, which it does not define"
    return listed


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_lists_exactly_what_it_exports(name: str) -> None:
    package = importlib.import_module(name)
    exported = _exported(package)
    if not hasattr(package, "__all__"):
        assert not exported, f"{name} exports {sorted(exported)}: list them in its __all__"
        return
    listed = _check_all(package)
    unlisted = sorted(exported - set(listed))
    assert not unlisted, f"{name} imports {unlisted} but its __all__ does not list them"


@pytest.mark.parametrize("name", MODULES_WITH_ALL)
def test_every_module_all_names_what_the_module_defines(name: str) -> None:
    _check_all(importlib.import_module(name))


def test_the_guard_sees_the_modules_that_declare_all() -> None:
    assert {"gridshare.units", "gridshare.errors", "gridshare.evm"} <= set(MODULES_WITH_ALL)
    assert {"gridshare", "gridshare.model", "gridshare.pipeline"} <= set(PACKAGES)


def test_the_package_is_typed() -> None:
    """PEP 561: type checkers use gridshare's annotations only if it ships ``py.typed``."""
    assert importlib.resources.files("gridshare").joinpath("py.typed").is_file()
