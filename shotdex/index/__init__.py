"""LanceDB storage, incremental indexing, search and evaluation. Uses render/ and embed/."""

from .api import Index, SourceInfo, Stats, open_index
from .indexer import AddReport, ProgressEvent
from .search import Hit

__all__ = ["Index", "Stats", "SourceInfo", "open_index", "AddReport", "ProgressEvent", "Hit"]
