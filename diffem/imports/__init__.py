"""Importers of a user's own observations; importing this package registers every built-in one.

A new importer is one class in one file here, decorated with ``@register_importer``, with an
``Options`` dataclass (:mod:`diffem.options`); it then appears as
``python -m diffem import-observations NAME`` with flags generated from its options.
"""

from .arrays import ArraysImporter
from .base import IMPORTERS, Importer, ImportSettings, ObservationImportError, Observed, register_importer
from .dataset import DatasetImporter
from .folder import FolderImporter
from .saving import import_observations

__all__ = ["IMPORTERS", "Importer", "ImportSettings", "ObservationImportError", "Observed", "register_importer",
           "ArraysImporter", "DatasetImporter", "FolderImporter", "import_observations"]
