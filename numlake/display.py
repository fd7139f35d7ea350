"""Text shown to a person that can be arbitrarily long (a record's raw text, a detail).

The lake keeps a rejected record's raw text whole (INTERCHANGE 4), however long; a page or
a terminal shows its beginning and states its full length, so one 10 MB record does not make
a 10 MB page. Mask first (``numlake.msisdn.mask_text``) and shorten after: a cut must never
leave part of a number that the masker no longer recognises.
"""

from __future__ import annotations

DISPLAY_CHARS = 300


def shorten(text: str | None, limit: int = DISPLAY_CHARS) -> str:
    """`text` up to `limit` characters; longer text is cut there and says how long it was."""
    if text is None:
        return ""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters in all; shortened for display)"
