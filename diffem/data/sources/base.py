r"""Clean data sources: what ``make-observations --data NAME`` corrupts, in the model's scale (``[-2, 2]``).

A source is one registered class in one file (:func:`register_source`): a ``name``, a one-line ``summary``
(``--help``), a ``title`` (how the app names the data a prior learned from), its ``domain`` (``image`` or
``vector``), an ``argument`` when its spec takes one (``folder:PATH``), whether the app's Train tab offers it
(``offered``), and an ``Options`` dataclass whose fields become flags (``--size``, ``--manifold-points``).
:meth:`DataSource.load` gives the train and test splits; :func:`load_clean_data` reads a spec
(``fashion-mnist``, ``folder:my-images``) and the chosen source's options.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor

from ...options import NoOptions, check_options, options_from_values
from ...scaling import DataScaling

SOURCES: dict[str, type["DataSource"]] = {}


@dataclass
class CleanData:
    train: Tensor
    test: Tensor
    domain: str  # "image" or "vector"


class DataSource(ABC):
    """One kind of clean data; subclasses set the class constants below and :meth:`load`."""

    name: ClassVar[str]
    #: one line for ``--help``
    summary: ClassVar[str] = ""
    #: the data in a visitor's words ("Fashion-MNIST clothing images": "learned from only masked <title>")
    title: ClassVar[str] = ""
    domain: ClassVar[str] = "image"
    #: what follows ``name:`` in a spec (``PATH`` for ``folder:PATH``), or None when nothing may
    argument: ClassVar[str | None] = None
    #: whether the app's Train tab (a training job) offers it: a source that reads the server's files does not
    offered: ClassVar[bool] = False
    #: a corruption that suits its data, the Train tab's starting value when it is chosen
    corruption: ClassVar[str] = "mask:0.75"
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None) -> None:
        self.options = options_from_values(self.Options, options, f"data source {self.name}")
        check_options(self.options)

    @abstractmethod
    def load(self, argument: str | None, scaling: DataScaling) -> CleanData:
        """The train and test splits (images in the model's scale)."""


def register_source(cls: type[DataSource]) -> type[DataSource]:
    """Class decorator: make a data source available by its ``name`` (CLI, jobs, app)."""
    if cls.name in SOURCES:
        raise ValueError(f"data source name {cls.name!r} is registered twice")
    SOURCES[cls.name] = cls
    return cls


def source_spec(cls: type[DataSource]) -> str:
    """How a spec names the source: ``manifold``, ``folder:PATH``."""
    return cls.name if cls.argument is None else f"{cls.name}:{cls.argument}"


def source_specs() -> tuple[str, ...]:
    """Every registered source as a spec names it, sorted by name."""
    return tuple(source_spec(SOURCES[name]) for name in sorted(SOURCES))


def offered_sources() -> tuple[str, ...]:
    """The sources a training job may use (the app's Train tab), sorted by name."""
    return tuple(name for name in sorted(SOURCES) if SOURCES[name].offered)


def parse_source(spec: str) -> tuple[type[DataSource], str | None]:
    """The source class a spec names, and its argument (``folder:my-images`` -> ``my-images``)."""
    name, colon, argument = spec.partition(":")
    if name not in SOURCES:
        raise ValueError(f"unknown data source {spec!r}; choose one of {', '.join(source_specs())}")
    cls = SOURCES[name]
    if cls.argument is not None and not argument:
        raise ValueError(f"data source {name} needs its {cls.argument}: {source_spec(cls)}")
    if cls.argument is None and colon:
        raise ValueError(f"data source {name} takes nothing after its name, got {spec!r}")
    return cls, argument or None


def source_settings(cls: type[DataSource], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The chosen source's options among ``settings`` (the flags of every source's options, ``None`` when not
    given); a name that is no source's option is refused."""
    known = {field.name for source in SOURCES.values() for field in dataclasses.fields(source.Options)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"no data source has the option {unknown[0]!r}")
    own = {field.name for field in dataclasses.fields(cls.Options)}
    return {name: value for name, value in settings.items() if name in own}


def load_clean_data(spec: str, scaling: DataScaling | None = None, **settings: Any) -> CleanData:
    """Train and test splits of the source ``spec`` names; ``settings`` may hold the options of every source
    (a command line's flags) and the chosen one takes its own."""
    cls, argument = parse_source(spec)
    return cls(source_settings(cls, settings)).load(argument, scaling or DataScaling())
