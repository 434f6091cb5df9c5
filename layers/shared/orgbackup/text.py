"""Untrusted text made safe for a message body a person reads (SNS e-mail, chat, a ticket).

Account names come from Organizations and may hold any character; event fields and error causes are text we did
not write. A line break or carriage return inside such a value could forge a line of the message ("What to do
next: ..."), terminal escape sequences (ESC, other C0/C1 controls) can rewrite what a console shows, and Unicode
format characters (bidirectional overrides such as U+202E, zero-width characters) can make text read differently
from what it is. Subjects are ASCII-only already (SNS's rule); bodies keep every printable character, any script
included, so names stay readable:

- ``one_line``: whitespace of any kind (line breaks, tabs, U+2028/U+2029) becomes one space, runs of spaces
  collapse, and every other control or format character becomes U+FFFD, visibly standing in for what was there.
- ``lines``: the same per line for text whose line breaks are its own (a status message), line breaks kept.
"""

import unicodedata
from typing import Final

REPLACEMENT: Final = "\ufffd"
# SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100 characters
# long" (API reference, Publish, Subject: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html): at most 99.
# Every subject this product publishes (alerts, run reports, coverage) is cut to it.
SNS_SUBJECT_MAX_CHARS: Final = 99
# Control (Cc), format (Cf), line and paragraph separator (Zl, Zp), unassigned/surrogate/private use (Cn, Cs, Co).
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Cs", "Co"})


def _safe_char(ch: str) -> str:
    if ch.isspace():
        return " "
    if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
        return REPLACEMENT
    return ch


def one_line(text: object) -> str:
    """``text`` as one readable line: no line breaks, no control or format characters, single spaces."""
    cleaned = "".join(_safe_char(ch) for ch in str(text))
    return " ".join(cleaned.split())


def lines(text: object) -> list[str]:
    """``text`` split at its line breaks, each line cleaned like ``one_line`` (blank lines dropped)."""
    return [line for line in (one_line(part) for part in str(text).splitlines()) if line]
