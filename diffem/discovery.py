r"""Registry names read from the source, without importing it (``--help`` must not load torch).

A registered class is one class in one file, decorated (``@register_sampler``) and naming itself
(``name = "ddpm"``, with an optional one-line ``summary = "..."``); a fixed list is a module-level
tuple of strings (``PRECISIONS = ("fp32", "bf16")``). Both are found by parsing the files with :mod:`ast`, so a new class shows up in the
CLI's help without an edit anywhere else. ``tests/test_cli.py`` checks that what is read here
is exactly what the imported registries hold.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def registered_summaries(subpackage: str, decorator: str) -> dict[str, str]:
    """``name -> summary`` (``""`` without one) of every class decorated with ``@decorator`` in
    ``diffem/<subpackage>/*.py``, sorted by name."""
    found = {}
    for path in sorted((PACKAGE / subpackage).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(_called(d) == decorator for d in node.decorator_list):
                name = _class_constant(node, "name")
                if name is not None:
                    found[name] = _class_constant(node, "summary") or ""
    return dict(sorted(found.items()))


def registered_names(subpackage: str, decorator: str) -> tuple[str, ...]:
    """The ``name`` of every class decorated with ``@decorator`` in ``diffem/<subpackage>/*.py``, sorted."""
    return tuple(registered_summaries(subpackage, decorator))


@lru_cache(maxsize=None)
def listed_names(module: str, constant: str) -> tuple[str, ...]:
    """The strings of the tuple (or the keys of the dict) ``constant`` of ``diffem/<module>.py``
    (``em/config``), in their order."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == constant for t in targets) and node.value is not None:
            value = ast.literal_eval(node.value)
            return tuple(str(v) for v in value)
    raise LookupError(f"diffem/{module}.py defines no {constant}")


def _called(decorator: ast.expr) -> str | None:
    if isinstance(decorator, ast.Name):
        return decorator.id
    if isinstance(decorator, ast.Attribute):
        return decorator.attr
    return None


def _class_constant(node: ast.ClassDef, attribute: str) -> str | None:
    """The string a class body assigns to ``attribute`` (``name = "ddpm"``), if it does."""
    for statement in node.body:
        if (isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attribute for t in statement.targets)
                and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)):
            return statement.value.value
    return None
