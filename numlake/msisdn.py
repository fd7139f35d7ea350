"""Phone numbers: the one place that normalises, validates, hashes and masks an MSISDN.

INTERCHANGE 2.3: spaces and hyphens are removed, then a leading ``+86``, ``0086`` or ``86``
before 11 digits; a valid number then matches ``^1[3-9][0-9]{9}$``. RULES 7: anything shown
to a person is masked as ``138****5678``.
"""
from __future__ import annotations

import hashlib
import re

VALID_RE = re.compile(r"^1[3-9][0-9]{9}$")
_PREFIX_RE = re.compile(r"^(?:\+86|0086|86)(?=[0-9]{11}$)")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_ANY_NUMBER_RE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")

# The same normalisation as a DuckDB SQL expression template (`{x}` is a VARCHAR expression),
# so vectorised code applies exactly the rule of `normalize`.
SQL_NORMALIZE = (
    "regexp_replace(regexp_replace({x}, '[ \\-]', '', 'g'), '^(\\+86|0086|86)([0-9]{{11}})$', '\\2')"
)


def normalize(raw: object) -> str | None:
    """Return the 11-digit number, or None when `raw` is not a valid MSISDN in any allowed shape."""
    if raw is None:
        return None
    s = str(raw).strip().replace(" ", "").replace("-", "")
    s = _PREFIX_RE.sub("", s)
    return s if VALID_RE.match(s) else None


def mask(msisdn: str | None) -> str:
    """``13812345678`` -> ``138****5678``; anything else is masked whole except its last 4."""
    if not msisdn:
        return ""
    s = str(msisdn)
    if len(s) == 11 and s.isdigit():
        return f"{s[:3]}****{s[7:]}"
    return "*" * max(0, len(s) - 4) + s[-4:]


def mask_text(text: str) -> str:
    """Mask every 11-digit mobile number embedded in free text (log lines, error messages)."""
    return _ANY_NUMBER_RE.sub(lambda m: mask(m.group(0)), text)


def sha256_hex(msisdn: str) -> str:
    """Lowercase hex SHA-256 of the normalised 11-digit number (how callers may send it)."""
    return hashlib.sha256(msisdn.encode("ascii")).hexdigest()
