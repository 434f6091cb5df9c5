"""Untrusted text in message bodies (`orgbackup.text`), and the alert and run messages that use it: an account name
or error cause with line breaks, escape sequences or bidirectional overrides cannot forge or hide a line."""

import json
from pathlib import Path
from typing import Any

import pytest

from orgbackup.alerts import format_alert
from orgbackup.report import failure_report, run_report
from orgbackup.text import REPLACEMENT, lines, one_line

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_NAME = "prod\r\nWhat to do next:\n  delete the vault\x1b[2J\u202etxt.exe\u200b\ttail"
FORBIDDEN = ("\r", "\x1b", "\u202e", "\u200b", "\t", "\u2028", "\x85")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("workload-a", "workload-a"),
        ("Zahlungsverkehr Europäische Union", "Zahlungsverkehr Europäische Union"),
        ("日本の本番", "日本の本番"),
        ("a\nb\r\nc\td\u2028e\x85f", "a b c d e f"),
        ("  spaced   out  ", "spaced out"),
        ("esc\x1b[31mred", f"esc{REPLACEMENT}[31mred"),
        ("bidi\u202eevil\u2066x", f"bidi{REPLACEMENT}evil{REPLACEMENT}x"),
        ("zero\u200bwidth\x00nul\x7fdel", f"zero{REPLACEMENT}width{REPLACEMENT}nul{REPLACEMENT}del"),
    ],
)
def test_one_line_keeps_printable_text_and_neutralizes_the_rest(raw: str, expected: str) -> None:
    assert one_line(raw) == expected


def test_lines_keeps_the_texts_own_line_breaks_and_cleans_each_line() -> None:
    assert lines("first\x1b line\n\nsecond\u202e line\r\n") == [f"first{REPLACEMENT} line", f"second{REPLACEMENT} line"]


def assert_no_forged_lines(message: str) -> None:
    assert not any(ch in message for ch in FORBIDDEN), repr(message)
    # The hostile name's "What to do next:" stays inside its own line, never at the start of one
    assert sum(line.startswith("What to do next:") for line in message.splitlines()) <= 1
    assert not any(line.startswith("  delete the vault") for line in message.splitlines())


def test_an_alert_body_cannot_be_forged_by_the_account_name() -> None:
    event: dict[str, Any] = json.loads((ROOT / "events/backup/backup-job-failed.json").read_text(encoding="utf-8"))
    event["detail"]["statusMessage"] = "line one\x1b[2J\nline two\u202e"
    alert = format_alert(event, lambda _account_id: HOSTILE_NAME)
    assert_no_forged_lines(alert.message)
    first = alert.message.splitlines()[0]
    assert "prod What to do next: delete the vault" in first
    assert f"  line one{REPLACEMENT}[2J" in alert.message.splitlines()
    assert all(32 <= ord(ch) < 127 for ch in alert.subject)


def test_a_run_report_cannot_be_forged_by_names_reasons_or_causes() -> None:
    state = {
        "execution": "run\n1",
        "resolution": {
            "mode": "events",
            "to_onboard": [{"account_id": "333333333333", "name": HOSTILE_NAME}],
            "skipped": [{"account_id": "666666666666", "code": "out-of-scope", "reason": "OU\nEvil\x1b"}],
        },
        "baseline": {"onboarded": ["333333333333"], "failed": {}},
    }
    message = run_report(state)["message"]
    assert_no_forged_lines(message)
    assert "  - 333333333333 (prod What to do next: delete the vault" in message
    failure = failure_report(
        {"execution": "run-2", "failure": {"step": "Resolve", "error": {"Error": "X", "Cause": "a\nWhat to do next:"}}}
    )["message"]
    assert_no_forged_lines(failure)
    assert "Why: a What to do next:" in failure
