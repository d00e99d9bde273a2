r"""The registry of installed priors: what each bundle is and what it can be used with.

Bundles are found in a folder (``checkpoints/``: every sub-folder with a ``diffem.json``) and,
optionally, Hugging Face Hub repo ids. Each entry says which posterior methods apply (every
registered method that needs an unconditional prior, ``mmps``, ``dps``, ``pigdm``... and ``prior``,
for unconditional and Gaussian priors; ``conditional`` for DiffEM models) and which operators (any image operator for a prior; the operators a conditional model
was trained for). Names are the only handles the app and CLI accept, so no path ever comes from
a user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .bundle import BundleError, PriorBundle, list_bundles, read_bundle_config, resolve_bundle_folder
from .operators import OPERATORS, served_operators
from .posterior import methods_for
from .tuning import read_tuned

@dataclass
class PriorEntry:
    name: str
    source: str
    config: dict[str, Any]
    bundle: PriorBundle | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return str(self.config["kind"])

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.config["event_shape"])

    @property
    def methods(self) -> tuple[str, ...]:
        """The registered posterior methods this model serves, in menu order (every unconditional
        sampler for a prior, ``conditional`` for a DiffEM model)."""
        return methods_for(self.kind)

    @property
    def operators(self) -> list[str]:
        """Operator names this entry restores (conditional models: those trained for, and user masks)."""
        domain = "vector" if len(self.event_shape) == 1 else "image"
        usable = sorted(name for name, cls in OPERATORS.items() if cls.domain in (domain, "any") and cls.offered)
        if self.kind != "conditional":
            return usable
        return sorted(set(served_operators(self.config.get("operators", []))) & set(usable))

    @property
    def tuned(self) -> dict[str, Any]:
        """Options tuned for this bundle (``tuned.json`` beside ``diffem.json``; :mod:`diffem.tuning`)."""
        return read_tuned(self.source) if Path(self.source).is_dir() else {}

    def describe(self) -> str:
        info = self.config.get("info", {})
        method = info.get("method", "?")
        lap = info.get("lap")
        corruption = info.get("corruption", {})
        trained_on = corruption.get("name", "?") if isinstance(corruption, dict) else str(corruption)
        parts = [f"{self.kind} model" if self.kind == "conditional" else f"{self.kind} prior", f"method {method}"]
        if lap is not None:
            parts.append(f"lap {lap}")
        parts.append(f"observations: {trained_on}")
        if info.get("upper_bound"):
            parts.append("UPPER BOUND (trained on clean data)")
        return ", ".join(parts)


class PriorRegistry:
    """Installed priors by name, each loaded once (to ``device``) on first use or at start."""

    def __init__(self, folder: str | os.PathLike[str] | None, hub_ids: list[str] | tuple[str, ...] = (),
                 device: torch.device | str | None = None) -> None:
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.entries: dict[str, PriorEntry] = {}
        self.errors: dict[str, str] = {}
        if folder is not None:
            for name, config in list_bundles(folder):
                self.entries[name] = PriorEntry(name, str(Path(folder) / name), config)
        for repo in hub_ids:
            try:
                path = resolve_bundle_folder(repo)
                self.entries[repo] = PriorEntry(repo, str(path), read_bundle_config(path))
            except BundleError as error:
                self.errors[repo] = str(error)

    def add(self, name: str, folder: str | os.PathLike[str]) -> PriorEntry:
        """Register (and load) a bundle folder under ``name``."""
        entry = PriorEntry(name, str(folder), read_bundle_config(Path(folder)))
        self.entries[name] = entry
        self.bundle(name)
        return entry

    def names(self, kind: str | None = None) -> list[str]:
        return [n for n, e in self.entries.items() if kind is None or (e.kind == "conditional") == (kind == "conditional")]

    def entry(self, name: str) -> PriorEntry:
        if name not in self.entries:
            known = ", ".join(self.entries) or "none installed"
            raise ValueError(f"unknown prior {name!r}; installed: {known}")
        return self.entries[name]

    def bundle(self, name: str) -> PriorBundle:
        entry = self.entry(name)
        if entry.bundle is None:
            entry.bundle = PriorBundle.from_pretrained(entry.source, device=self.device)
        return entry.bundle

    def load_all(self) -> None:
        for name in list(self.entries):
            try:
                self.bundle(name)
            except BundleError as error:
                self.errors[name] = str(error)
                del self.entries[name]
