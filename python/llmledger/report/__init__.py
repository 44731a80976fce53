"""Reports over the ledger: the terminal report and the synthetic demo that feeds it."""

from .summary import Summary, summarize
from .text import render

__all__ = ["Summary", "render", "summarize"]
