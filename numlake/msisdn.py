"""Phone numbers: the one place that normalises, validates, hashes and masks an MSISDN.

INTERCHANGE 2.3: spaces and hyphens are removed, then a leading ``+86``, ``0086`` or ``86``
before 11 digits; a valid number then matches ``1[3-9][0-9]{9}`` (`VALID_PATTERN`, from which
the Python, Arrow and SQL forms below are derived). RULES 7: anything shown to a person is masked
as ``138****5678`` — `mask_text` is the project's one masker for free text (logs, error messages,
dashboards, raw rejected records).
"""

from __future__ import annotations

import hashlib
import logging
import re

VALID_PATTERN = "1[3-9][0-9]{9}"
VALID_RE = re.compile(f"^{VALID_PATTERN}$")
# a valid number standing alone (no digit either side): what a page must never contain
BARE_NUMBER_RE = re.compile(f"(?<![0-9]){VALID_PATTERN}(?![0-9])")
_PREFIX_RE = re.compile(r"^(?:\+86|0086|86)(?=[0-9]{11}$)")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# The same normalisation as a DuckDB SQL expression template (`{x}` is a VARCHAR expression),
# so vectorised code applies exactly the rule of `normalize`; SQL_VALID tests its result.
# (spaces and hyphens dropped by replace(), the same as a global regexp_replace of '[ \\-]' at a
# fraction of its cost)
SQL_NORMALIZE = "regexp_replace(replace(replace({x}, ' ', ''), '-', ''), '^(\\+86|0086|86)([0-9]{{11}})$', '\\2')"
SQL_VALID = "regexp_full_match({x}, '" + VALID_PATTERN.replace("{", "{{").replace("}", "}}") + "')"

_EMBEDDED_RE = re.compile(VALID_PATTERN)
# digit runs joined by spaces and hyphens (any number of them: `normalize` drops them all), with
# an optional leading "+": where a number may hide
_DIGIT_GROUP_RE = re.compile(r"\+?[0-9]+(?:[ \-]+[0-9]+)*")
_SEPARATOR_RE = re.compile(r"([ \-]+)")
_LONGEST_SHAPE = 15  # 0086 + 11 digits
_GLUED_MAX = 14


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


def mask_text(text: str | None) -> str:
    """Mask every phone number in free text, whatever its INTERCHANGE 2.3 shape; keep all else as is.

    Within a group of digit runs joined by spaces and hyphens, every stretch of WHOLE runs that
    normalises to a valid number (``+86 138 1234 5678``, ``138-1234-5678``, ``138 - 1234 - 5678``,
    ``008613812345678``)
    becomes ``138****5678``. Runs are never cut: a list of segments (``1660 1710 1925``), a date or
    a timestamp stays as it is even when its digits, run together, would contain a number. One run
    of 12 to 14 digits is a number glued to a few more (``id99913812345678``): the four middle
    digits of each number pattern in it are starred. Runs of 15 digits or more that are not a
    prefixed number are identifiers (ID and bank cards, compact timestamps with a sequence) and
    stay. ``None`` gives "".
    """
    if not text:
        return "" if text is None else text
    return _DIGIT_GROUP_RE.sub(_mask_group, text)


def _mask_group(m: re.Match) -> str:
    group = m.group(0)
    if len(group) < 11:
        return group
    number = normalize(group)
    if number is not None:
        return mask(number)
    parts = _SEPARATOR_RE.split(group)  # runs at even indices, separators between
    runs = parts[0::2]
    out: list[str] = []
    i = 0
    while i < len(runs):
        j, digits, hit = i, 0, None
        while j < len(runs) and digits <= _LONGEST_SHAPE:
            digits += len(runs[j]) - runs[j].startswith("+")
            j += 1
            if digits >= 11:
                hit = normalize("".join(parts[2 * i : 2 * j - 1]))
                if hit is not None:
                    break
        if hit is not None:
            out.append(mask(hit))
            i = j
        else:
            out.append(_star_glued(runs[i]))
            i += 1
        if i < len(runs):
            out.append(parts[2 * i - 1])
    return "".join(out)


def _star_glued(run: str) -> str:
    """Star digits 4-7 of every number pattern inside one run of 12-14 digits; other runs unchanged."""
    if not 12 <= len(run) <= _GLUED_MAX:
        return run
    starred: set[int] = set()
    start = 0
    while (hit := _EMBEDDED_RE.search(run, start)) is not None:
        starred.update(range(hit.start() + 3, hit.start() + 7))
        start = hit.start() + 1
    return "".join("*" if k in starred else ch for k, ch in enumerate(run)) if starred else run


def sha256_hex(msisdn: str) -> str:
    """Lowercase hex SHA-256 of the normalised 11-digit number (how callers may send it)."""
    return hashlib.sha256(msisdn.encode("ascii")).hexdigest()


class MaskNumbers(logging.Filter):
    """Masks every phone number in a log record's message (RULES 7: logs never show a full number).
    A file or folder name is whatever a source chose, and may be a number."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def masked_logger(name: str) -> logging.Logger:
    """The logger `name`, with `MaskNumbers` on it (once): every record it emits is masked before any
    handler, Dagster's captured logs included, sees it."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, MaskNumbers) for f in logger.filters):
        logger.addFilter(MaskNumbers())
    return logger
