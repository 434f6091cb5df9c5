"""Hostile and malformed inputs for the no-traceback property tests (Hypothesis strategies), in a module of its own
like sample_events: JSON values of every shape, sample events from events/ with one field replaced or removed,
files of arbitrary bytes, and the shapes that broke commands before (deep nesting, a number of thousands of
digits, a list or string where an object belongs, ``detail`` that is not an object)."""

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sample_events import EVENTS

# Deterministic (no example database, derandomized): a test run is repeatable on CI; the strategies still cover
# each shape. deadline=None: the emulated organization makes some examples slow, and timing is no property here.
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

SAMPLES = sorted(path for path in EVENTS.rglob("*.json") if path.name != "env.json")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _edit(document: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    document = json.loads(json.dumps(document))
    node = document
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


@st.composite
def mutated_samples(draw: st.DrawFn, samples: list[Path] | None = None) -> Any:
    """A sample event with one field (at any depth) replaced by another JSON value, or removed."""
    sample = draw(st.sampled_from(samples or SAMPLES))
    document = json.loads(sample.read_text(encoding="utf-8"))
    paths = _paths(document)
    if not paths:
        return document
    path = draw(st.sampled_from(paths))
    return _edit(document, path, draw(json_values), draw(st.booleans()))


# The shapes of the issue, each a file's text.
NAMED_SHAPES: dict[str, str] = {
    "deep-list": "[" * 50_000 + "]" * 50_000,
    "deep-object": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "top-level-list": json.dumps([json.loads((EVENTS / "controltower/create-managed-account.json").read_text())]),
    "top-level-string": '"an event"',
    "top-level-number": "12",
    "null": "null",
    "detail-not-object": json.dumps(
        {**json.loads((EVENTS / "backup/backup-job-failed.json").read_text()), "detail": "FAILED"}
    ),
    "ct-detail-not-object": json.dumps(
        {**json.loads((EVENTS / "controltower/create-managed-account.json").read_text()), "detail": ["x"]}
    ),
    "huge-number": '{"source": "aws.backup", "detail": {"backupSizeInBytes": ' + "9" * 5000 + "}}",
    "huge-number-in-sample": (EVENTS / "backup/backup-job-failed.json")
    .read_text()
    .replace('"percentDone": "0"', '"percentDone": ' + "7" * 5000),
    "empty": "",
    "nan": '{"source": NaN}',
}

file_texts = st.one_of(
    json_values.map(json.dumps),
    mutated_samples().map(json.dumps),
    st.sampled_from(sorted(NAMED_SHAPES.values())),
    st.text(max_size=200),
)
file_bytes = st.one_of(file_texts.map(lambda text: text.encode("utf-8", "surrogatepass")), st.binary(max_size=300))
