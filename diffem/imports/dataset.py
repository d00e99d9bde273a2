r"""A Hugging Face ``datasets`` dataset with an image column and a mask column.

``--dataset`` is a folder written by ``Dataset.save_to_disk``, any local folder that
``datasets.load_dataset`` reads (an ``imagefolder`` whose ``metadata.csv`` names each row's
``file_name`` and ``mask_file_name``, parquet files...), or a Hub dataset id (online, or from
the local cache with ``HF_HUB_OFFLINE=1``). Image columns decode to pictures; a mask column may
also hold 2-D arrays of 0/1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..options import option
from .base import Importer, ObservationImportError, Observed, register_importer
from .shaping import binary_mask, image_pixels, mask_pixels

#: files that mark a folder written by ``save_to_disk``
SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


@dataclass(frozen=True)
class DatasetOptions:
    dataset: str = option(None, "a saved dataset folder, a folder load_dataset reads (e.g. an imagefolder), or a "
                                "Hub dataset id")
    split: str = option("train", "the split to import")
    image_column: str = option("image", "the column of observed images")
    mask_column: str = option("mask", "the column of masks (images or 0/1 arrays; white = observed)")
    config: str | None = option(None, "the dataset's configuration (Hub datasets with several)", unset="the default")


def load_split(options: DatasetOptions) -> Any:
    try:
        import datasets
    except ImportError:
        raise ObservationImportError("this importer needs the `datasets` library: pip install datasets") from None
    folder = Path(options.dataset)
    try:
        if folder.is_dir() and any((folder / marker).is_file() for marker in SAVED_MARKERS):
            loaded = datasets.load_from_disk(str(folder))
            if isinstance(loaded, datasets.DatasetDict):
                if options.split not in loaded:
                    raise ObservationImportError(f"{folder} has splits {', '.join(loaded)}; no {options.split!r}")
                loaded = loaded[options.split]
            return loaded
        return datasets.load_dataset(options.dataset, options.config, split=options.split)
    except ObservationImportError:
        raise
    except Exception as error:  # noqa: BLE001 (the library raises many kinds; all mean: cannot load this)
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ObservationImportError(f"cannot load the dataset {options.dataset!r} ({type(error).__name__}: {first})") from None


def mask_values(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "mode") and hasattr(value, "size"):  # a decoded picture
        return mask_pixels(value, name)
    return binary_mask(np.asarray(value), name)


@register_importer
class DatasetImporter(Importer):
    name = "dataset"
    summary = "a Hugging Face dataset (saved, local folder or Hub id) with an image and a mask column"
    Options = DatasetOptions

    def observations(self, limit: int | None) -> Iterator[Observed]:
        split = load_split(self.options)
        missing = [c for c in (self.options.image_column, self.options.mask_column) if c not in split.column_names]
        if missing:
            raise ObservationImportError(f"the dataset has no column {missing[0]!r}; its columns: "
                                         f"{', '.join(split.column_names)}")
        rows = split.select_columns([self.options.image_column, self.options.mask_column])
        for index, row in enumerate(rows):
            if limit is not None and index >= limit:
                return
            name = f"{self.options.dataset}[{self.options.split}][{index}]"
            picture = row[self.options.image_column]
            if not (hasattr(picture, "mode") and hasattr(picture, "size")):
                raise ObservationImportError(f"{name}: column {self.options.image_column!r} holds "
                                             f"{type(picture).__name__}, not images")
            yield Observed(name, image_pixels(picture, name), mask=mask_values(row[self.options.mask_column], name))

    def provenance(self) -> dict[str, Any]:
        return {"dataset": self.options.dataset, "split": self.options.split, "config": self.options.config,
                "image_column": self.options.image_column, "mask_column": self.options.mask_column}
