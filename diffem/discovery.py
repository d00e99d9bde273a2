r"""Registry names read from the source, without importing it (``--help`` must not load torch).

A registered class is one class in one file, decorated (``@register_sampler``) and naming itself
(``name = "ddpm"``, with an optional one-line ``summary = "..."``); a fixed list is a module-level
tuple of strings (``PRECISIONS = ("fp32", "bf16")``). Both are found by parsing the files with
:mod:`ast`, so a new class shows up in the CLI's help without an edit anywhere else; so are the
options of a class's ``Options`` dataclass (:func:`registered_options`: the flags of the EM
methods, the posterior methods and the samplers in ``--help``), whose ``option(...)`` arguments
are literals, or constants of their own file and f-strings of those. ``tests/test_cli.py`` checks
that what is read here is exactly what the imported registries hold.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def registered_constants(subpackage: str, decorator: str, attribute: str) -> dict[str, str]:
    """``name -> attribute`` (the string its class body assigns, ``""`` without one) of every class decorated
    with ``@decorator`` in ``diffem/<subpackage>/*.py``, sorted by name."""
    return {name: _class_constant(node, attribute) or "" for name, node, _ in registered_classes(subpackage, decorator)}


@lru_cache(maxsize=None)
def registered_classes(subpackage: str, decorator: str) -> tuple[tuple[str, ast.ClassDef, Path], ...]:
    """``(name, class node, file)`` of every class decorated with ``@decorator`` in ``diffem/<subpackage>/*.py``
    that names itself, sorted by name."""
    found = []
    for path in sorted((PACKAGE / subpackage).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(_called(d) == decorator for d in node.decorator_list):
                name = _class_constant(node, "name")
                if name is not None:
                    found.append((name, node, path))
    return tuple(sorted(found, key=lambda entry: entry[0]))


def registered_summaries(subpackage: str, decorator: str) -> dict[str, str]:
    """``name -> summary`` (``""`` without one) of every registered class, sorted by name."""
    return registered_constants(subpackage, decorator, "summary")


#: the parameters of :func:`diffem.options.option`, in order
OPTION_PARAMETERS = ("default", "help", "low", "high", "choices", "unset", "tune", "symbol")


@lru_cache(maxsize=None)
def registered_options(subpackage: str, decorator: str) -> dict[str, tuple[dict[str, Any], ...]]:
    """``name -> options`` of every class decorated with ``@decorator`` in ``diffem/<subpackage>/*.py``, each
    option described as :func:`diffem.options.describe_options` describes it, read from the class's own
    ``Options`` dataclass (none if it declares none); its ``option(...)`` arguments must be literals."""
    return {name: tuple(_described_option(field, path) for field in _options_fields(node))
            for name, node, path in registered_classes(subpackage, decorator)}


@lru_cache(maxsize=None)
def module_constants(path: Path) -> dict[str, Any]:
    """The module-level ``NAME = literal`` assignments of a source file (``DEFAULT_ZETA = 1.0``)."""
    constants: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if names and node.value is not None:
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            constants.update(dict.fromkeys(names, value))
    return constants


def _evaluated(node: ast.expr, constants: dict[str, Any]) -> Any:
    """A literal, a module constant or an f-string of them (``f"... else {DEFAULT_ZETA}"``); ValueError otherwise."""
    if isinstance(node, ast.Name):
        if node.id not in constants:
            raise ValueError(node.id)
        return constants[node.id]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                if part.conversion != -1 or part.format_spec is not None:
                    raise ValueError("a formatted f-string field")
                parts.append(str(_evaluated(part.value, constants)))
            else:
                parts.append(str(ast.literal_eval(part)))
        return "".join(parts)
    return ast.literal_eval(node)


def _options_fields(node: ast.ClassDef) -> list[ast.AnnAssign]:
    for statement in node.body:
        if isinstance(statement, ast.ClassDef) and statement.name == "Options":
            return [field for field in statement.body if isinstance(field, ast.AnnAssign)]
    return []


def _described_option(field: ast.AnnAssign, path: Path) -> dict[str, Any]:
    where = f"{path.name}: option {ast.unparse(field.target)}"
    if not (isinstance(field.value, ast.Call) and _called(field.value.func) == "option"):
        raise LookupError(f"{where} is not made with option(...)")
    constants = module_constants(path)
    try:
        given = dict(zip(OPTION_PARAMETERS, (_evaluated(a, constants) for a in field.value.args)))
        given.update({k.arg: _evaluated(k.value, constants) for k in field.value.keywords if k.arg is not None})
    except ValueError:
        raise LookupError(f"{where}: the arguments of option(...) must be literals or the file's own constants, "
                          "to be read without an import") from None
    kinds = [part.strip() for part in ast.unparse(field.annotation).strip("'\"").split("|")]
    choices = given.get("choices")
    return {"name": ast.unparse(field.target), "type": next(k for k in kinds if k != "None"), "optional": "None" in kinds,
            "default": given["default"], "min": given.get("low"), "max": given.get("high"),
            "choices": list(choices) if choices else None, "help": given.get("help", ""), "unset": given.get("unset")}


def registered_names(subpackage: str, decorator: str) -> tuple[str, ...]:
    """The ``name`` of every class decorated with ``@decorator`` in ``diffem/<subpackage>/*.py``, sorted."""
    return tuple(registered_summaries(subpackage, decorator))


@lru_cache(maxsize=None)
def listed_names(module: str, constant: str) -> tuple[str, ...]:
    """The strings of the tuple (or the keys of the dict) ``constant`` of ``diffem/<module>.py``
    (``em/config``), in their order."""
    constants = module_constants(PACKAGE / f"{module}.py")
    if constant not in constants:
        raise LookupError(f"diffem/{module}.py defines no {constant} (as a literal)")
    return tuple(str(v) for v in constants[constant])


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
