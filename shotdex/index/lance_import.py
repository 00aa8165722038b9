"""Import lancedb without paying for lance-namespace's REST client until something uses it.

`import lancedb` costs ~2.7 s on 2 cores, ~1.6 s of it in `lance_namespace_urllib3_client`: its package
`__init__` imports every generated REST API class (pydantic-validated methods) and urllib3 before
`lance_namespace` can take its model classes from `lance_namespace_urllib3_client.models`. A local
database never talks REST, so the package module is registered without running its `__init__` (its
submodules, the models, import normally); the first attribute anyone reads from the package itself
(`lance_namespace_urllib3_client.ApiClient`, as a REST namespace would) runs the real `__init__` into that
same module object, so nothing changes for code that uses it.

A process that only searches (the CLI's `search` command says so with `search_only_process()`) also
imports `pyarrow.dataset` without pandas (~0.4 s): pyarrow's compiled dataset module imports pandas when it
loads, though nothing on the search path uses a DataFrame. The cost of skipping it: in that process
pyarrow's pandas shim has already answered "no pandas" to its optional probes (`is_data_frame` stays
False), which matters only to code that hands pyarrow a DataFrame; `to_pandas()` still works, and lancedb
finds pandas lazily on its own. Libraries, `index` and `serve` are untouched by this part.

SHOTDEX_EAGER_LANCEDB=1 turns both off (benchmarks/fresh_search.py measures with and without).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading

__all__ = ["DEFERRED", "import_lancedb", "search_only_process"]

# Packages whose __init__ is deferred until an attribute of the package itself is read.
DEFERRED = ("lance_namespace_urllib3_client",)
_LOCK = threading.RLock()
_SEARCH_ONLY = False


def search_only_process() -> None:
    """Say that this process will only search: lancedb's import may then skip pandas (see above)."""
    global _SEARCH_ONLY
    _SEARCH_ONLY = True


def import_lancedb():
    """The lancedb module, imported with DEFERRED packages not initialised (unless SHOTDEX_EAGER_LANCEDB=1)."""
    if "lancedb" not in sys.modules and os.environ.get("SHOTDEX_EAGER_LANCEDB") != "1":
        for name in DEFERRED:
            _defer(name)
        if _SEARCH_ONLY and "pandas" not in sys.modules and "pyarrow.dataset" not in sys.modules:
            blocker = _NoPandasHere()
            sys.meta_path.insert(0, blocker)
            try:
                import pyarrow.dataset  # noqa: F401
            finally:
                sys.meta_path.remove(blocker)
    import lancedb

    return lancedb


def _defer(name: str) -> None:
    with _LOCK:
        if name in sys.modules:
            return
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return  # not installed, or not a package: nothing to defer
        module = importlib.util.module_from_spec(spec)

        def __getattr__(attr: str):
            # Dunder probes (copy, pickle, inspect) must not pull the whole client in.
            if attr.startswith("__") and attr.endswith("__"):
                raise AttributeError(attr)
            with _LOCK:
                if module.__dict__.get("__getattr__") is __getattr__:
                    del module.__dict__["__getattr__"]
                    spec.loader.exec_module(module)
            return getattr(module, attr)

        module.__getattr__ = __getattr__
        sys.modules[name] = module


class _NoPandasHere:
    """A finder that makes `import pandas` fail, only on the thread that installed it."""

    def __init__(self):
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if (name == "pandas" or name.startswith("pandas.")) and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"{name} skipped while loading pyarrow.dataset for a search", name=name)
        return None
