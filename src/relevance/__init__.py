"""Multilingual e-commerce relevance: query-category (QC) and query-item (QI)."""

__version__ = "0.1.0"
