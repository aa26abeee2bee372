"""Formats registry: ``direct``, ``scratchpad``, ``rule_following`` (importing registers them)."""

from caseray.data.formats import direct, rule_following, scratchpad  # noqa: F401  (registration)
from caseray.data.formats.base import FORMATS, Format, Parsed
from caseray.data.formats.options import get_format

__all__ = ["FORMATS", "Format", "Parsed", "get_format"]
