"""Makes unchanged Neptune scripts read through nql: after `nql.compat.install()`,
`import neptune` gives `nql.neptune` (and `neptune.exceptions`, `neptune.typing`,
`neptune.table` its modules), so a script written for Neptune 1.x runs on an export as it is:

    import nql.compat
    nql.compat.install()
    runpy.run_path("their_script.py")        # does `import neptune` and `neptune.init_project(...)`

`import neptune_query` is not mirrored yet: after `install()` it imports a placeholder whose
every attribute raises NotImplementedError, rather than the real client (which would try
Neptune's servers). `uninstall()` puts back whatever the modules were before.
"""

from __future__ import annotations

import sys
import types
from typing import Dict, Optional

__all__ = ["install", "uninstall", "installed"]

_SAVED: Dict[str, Optional[types.ModuleType]] = {}


class _NotYet(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotImplementedError(
            f"neptune_query.{name}: nql does not mirror neptune-query yet (only the Neptune 1.x API, "
            "nql.neptune); use nql.open(...).query(...) and .series(...) meanwhile"
        )


def _modules(neptune: bool, neptune_query: bool) -> Dict[str, types.ModuleType]:
    out: Dict[str, types.ModuleType] = {}
    if neptune:
        import nql.neptune
        import nql.neptune.exceptions
        import nql.neptune.table
        import nql.neptune.typing

        out["neptune"] = nql.neptune
        out["neptune.exceptions"] = nql.neptune.exceptions
        out["neptune.table"] = nql.neptune.table
        out["neptune.typing"] = nql.neptune.typing
    if neptune_query:
        out["neptune_query"] = _NotYet("neptune_query", "placeholder: nql does not mirror neptune-query yet")
    return out


def install(*, neptune: bool = True, neptune_query: bool = True) -> None:
    """Puts nql's modules in `sys.modules` under Neptune's names (a module already imported
    under such a name is replaced, and put back by `uninstall()`)."""
    for name, module in _modules(neptune, neptune_query).items():
        if name not in _SAVED:
            _SAVED[name] = sys.modules.get(name)
        sys.modules[name] = module


def uninstall() -> None:
    """Undoes `install()`."""
    for name, previous in _SAVED.items():
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    _SAVED.clear()


def installed() -> bool:
    """Whether `import neptune` gives nql.neptune now."""
    module = sys.modules.get("neptune")
    return module is not None and module.__name__ == "nql.neptune"
