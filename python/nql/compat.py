"""Makes unchanged Neptune scripts read through nql: after `nql.compat.install()`,
`import neptune` gives `nql.neptune` (and `neptune.exceptions`, `neptune.typing`,
`neptune.table` its modules) and `import neptune_query` gives `nql.query` (and
`neptune_query.filters`, `.runs`, `.exceptions`, `.types`, `.warnings`), so a script written
for Neptune 1.x or for neptune-query runs on an export as it is:

    import nql.compat
    nql.compat.install()
    runpy.run_path("their_script.py")        # does `import neptune_query as nq`, `nq.fetch_...`

`uninstall()` puts back whatever the modules were before.
"""

from __future__ import annotations

import sys
import types
from typing import Dict, Optional

__all__ = ["install", "uninstall", "installed", "installed_query"]

_SAVED: Dict[str, Optional[types.ModuleType]] = {}


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
        import nql.query
        import nql.query.exceptions
        import nql.query.filters
        import nql.query.runs
        import nql.query.types
        import nql.query.warnings

        out["neptune_query"] = nql.query
        for name in ["exceptions", "filters", "runs", "types", "warnings"]:
            out[f"neptune_query.{name}"] = getattr(nql.query, name)
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


def installed_query() -> bool:
    """Whether `import neptune_query` gives nql.query now."""
    module = sys.modules.get("neptune_query")
    return module is not None and module.__name__ == "nql.query"
