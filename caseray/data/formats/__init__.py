"""Formats registry: ``direct``, ``scratchpad``, ``rule_following`` (importing registers them)."""

from caseray.data.formats import direct, rule_following, rule_following_columns, scratchpad  # noqa: F401
from caseray.data.formats.base import FORMATS, Format, Parsed
from caseray.data.formats.options import get_format

__all__ = ["FORMATS", "Format", "Parsed", "get_format"]
