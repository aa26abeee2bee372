"""Credentials never leave the place that needs them: ``redact`` hides the user-info of every URI
(``s3://KEY:SECRET@bucket`` -> ``s3://***@bucket``) and secret-looking query values (``?token=...``)
in a string or in every string of a nested structure. Prints, logs, MLflow params and tags,
manifests and Ray's param space get the redacted form; only the connection keeps the original.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
# scheme://userinfo@host : userinfo is everything up to the last '@' before the host's '/', '?' or '#'
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^/?#\s]*)@")
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&;](?:[A-Za-z0-9_.-]*(?:token|secret|password|passwd|signature|credential|apikey|api_key|"
    r"access_key|sig)[A-Za-z0-9_.-]*)=)(?P<value>[^&#\s]*)", re.IGNORECASE)


def redact(value: Any) -> Any:
    """``value`` with every credential in a URI replaced by ``***``: strings, and the strings inside
    dicts, lists and tuples (keys included); anything else as it is."""
    if isinstance(value, str):
        text = _USERINFO.sub(lambda m: m["scheme"] + (MASK + "@" if m["info"] else "@"), value)
        return _SECRET_QUERY.sub(lambda m: m["key"] + MASK, text)
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


def has_credentials(uri: str) -> bool:
    return isinstance(uri, str) and redact(uri) != uri
