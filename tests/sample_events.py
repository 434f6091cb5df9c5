"""The samples in events/ and the bad-input corpus built from them, for every test tier (a module of its own:
each test folder's conftest.py is importable as `conftest`, so shared helpers cannot live there)."""

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def read_event(relative: str) -> Any:
    """A sample from events/ (the same files `sam local invoke -e` takes)."""
    return json.loads((EVENTS / relative).read_text(encoding="utf-8"))


# The bad-input corpus (tests/unit/data/lifecycle_corpus.json, tests/workflow/data/workflow_corpus.json): each row
# edits a sample event. One builder, used by the parser's tests and by the workflow's.
CORPUS_DEFAULT_EVENT = "controltower/create-managed-account.json"


def _walk(document: dict[str, Any], dotted: str) -> tuple[dict[str, Any], str]:
    *parents, last = dotted.split(".")
    node = document
    for key in parents:
        node = node[key]
    return node, last


def corpus_event(row: dict[str, Any]) -> dict[str, Any]:
    """The sample event a corpus row names, with the row's 'set', 'delete' and 'pad_bytes' edits applied."""
    event: dict[str, Any] = json.loads(json.dumps(read_event(row.get("event", CORPUS_DEFAULT_EVENT))))
    for dotted, value in row.get("set", {}).items():
        node, key = _walk(event, dotted)
        node[key] = value
    for dotted in row.get("delete", []):
        node, key = _walk(event, dotted)
        del node[key]
    if "pad_bytes" in row:
        event["detail"]["padding"] = "x" * row["pad_bytes"]
    return event
