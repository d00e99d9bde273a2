r"""Writing an imported set: the observation-set folder that ``train`` reads, complete or not at all.

Pixels ``p`` in ``[0, 1]`` map to the model's range by ``y = m * (low + (high - low) p)`` for masks
(missing pixels are 0, as :class:`~diffem.operators.user_mask.UserMask` observes them) and
``y = low + (high - low) p`` for blur (``A 1 = 1``, so the affine map commutes with ``A``). The
operator is ``user-mask`` with one mask per observation, or ``kernel-blur`` with one kernel per
observation. A seeded random ``held_out`` fraction becomes the test split: observations only,
no clean images (:mod:`diffem.heldout` evaluates them).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .base import Importer, ImportSettings, ObservationImportError
from .shaping import ShapedSet, shape_set


def held_out_rows(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` row indices: a seeded random ``fraction`` of ``count`` held out (at least one if any)."""
    order = np.random.default_rng(seed).permutation(count)
    held = 0 if fraction <= 0 else max(1, int(round(fraction * count)))
    if count - held < 1:
        raise ObservationImportError(f"{count} observation(s) cannot give a held-out split of {fraction:g} and still "
                                     "leave one to train on; import more or pass --held-out 0")
    return np.sort(order[held:]), np.sort(order[:held])


def check_out(out: str | os.PathLike[str]) -> Path:
    """``out`` must not exist yet, or be an empty folder: an import never replaces anything."""
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ObservationImportError(f"--out {out} already exists; choose a new folder (an import never overwrites)")
    return path


def observation_set(shaped: ShapedSet, rows: np.ndarray, sigma_y: float, info: dict[str, Any]) -> Any:
    """The rows ``rows`` of ``shaped`` as an :class:`~diffem.data.observations.ObservationSet` (model scale)."""
    import torch

    from ..data.observations import ObservationSet
    from ..operators import KernelBlur, UserMask
    from ..scaling import DataScaling

    scaling = DataScaling()
    y = scaling.to_model(torch.from_numpy(shaped.pixels[rows]))
    if shaped.masks is not None:
        mask = torch.from_numpy(shaped.masks[rows])
        operator: Any = UserMask(sigma_y=sigma_y, mask=mask)
        y = y * mask
    else:
        assert shaped.kernels is not None
        operator = KernelBlur(sigma_y=sigma_y, kernel=torch.from_numpy(shaped.kernels[rows]))
    return ObservationSet(y.contiguous(), operator, tuple(shaped.pixels.shape[1:]), scaling, dict(info))


def import_observations(importer: Importer, settings: ImportSettings, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, check, fit and write the observations of ``importer`` to ``out``; a summary of what was written."""
    from ..data.observations import save_observation_set

    target = check_out(out)
    shaped = shape_set(importer.observations(settings.limit), settings)
    train_rows, test_rows = held_out_rows(len(shaped.names), settings.held_out, settings.seed)
    info = {"data": None, "imported": {"importer": importer.name, **importer.provenance()},
            "settings": asdict(settings), "sigma_y": settings.sigma_y}
    train = observation_set(shaped, train_rows, settings.sigma_y, info)
    test = observation_set(shaped, test_rows, settings.sigma_y, info) if len(test_rows) else None
    save_observation_set(target, train, test)
    return summary(shaped, len(train_rows), len(test_rows), target)


def summary(shaped: ShapedSet, train: int, test: int, out: Path) -> dict[str, Any]:
    channels, size = shaped.pixels.shape[1], shaped.pixels.shape[-1]
    report: dict[str, Any] = {"out": str(out), "observations": train, "held_out": test, "size": size,
                              "channels": channels, "corruption": "user-mask" if shaped.masks is not None else "kernel-blur"}
    if shaped.masks is not None:
        report["observed_fraction"] = round(float(shaped.masks.mean()), 4)
    return report
