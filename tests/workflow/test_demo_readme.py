"""The README quotes what `make demo` prints (`orgbackup simulate`): every block introduced by "as `make demo` shows
it" is one of the messages the demo's topic subscriber received, modulo IDs (UUIDs, execution names) and times.
And the demo tells one story: the alert's Region and account are those of every ARN it names."""

import contextlib
import io
import re
from typing import Any

import pytest
from sample_events import ROOT

from orgbackup_tools import cli

# The module-scoped fixture is built once: under xdist every test of this module runs on one worker.
pytestmark = pytest.mark.xdist_group("demo_output")

README = (ROOT / "README.md").read_text(encoding="utf-8")
INTRO = re.compile(r"as `make demo` shows it[^\n]*\n(?:[^\n]+\n)*?\n```\n(.*?)\n```", re.DOTALL)
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
EXECUTION = re.compile(r"\brun-\d+-[0-9a-f]{8}\b")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
ARN = re.compile(r"arn:aws:[a-z0-9-]+:([a-z0-9-]*):(\d{12}|):")


def normalized(text: str) -> str:
    text = UUID.sub("<id>", text)
    text = EXECUTION.sub("<execution>", text)
    return TIME.sub("<time>", text).strip()


def demo_messages(output: str) -> list[str]:
    """Each message the demo prints ("notification: SUBJECT" or "...subscriber: SUBJECT", then "    | " lines), as
    the README quotes it: "Subject: SUBJECT", a blank line, the message."""
    messages = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"  (?:notification|alert received by the topic's subscriber): (.*)", line)
        if not match:
            continue
        body = []
        for following in lines[index + 1 :]:
            if not following.startswith("    |"):
                break
            body.append(following.removeprefix("    |").removeprefix(" "))
        messages.append("\n".join([f"Subject: {match.group(1)}", "", *body]))
    return messages


@pytest.fixture(scope="module")
def demo_output() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["simulate"]) == 0  # what `make demo` runs
    return out.getvalue()


def test_every_quoted_demo_block_is_what_the_demo_prints(demo_output: str) -> None:
    quoted = INTRO.findall(README)
    assert len(quoted) >= 2, "the README quotes the run's notification and the alert"
    printed = [normalized(message) for message in demo_messages(demo_output)]
    for block in quoted:
        assert normalized(block) in printed, f"README block not printed by the demo:\n{block}"


def test_the_demo_alert_names_one_region_and_account(demo_output: str) -> None:
    (alert,) = [m for m in demo_messages(demo_output) if m.startswith("Subject: AWS Backup:")]
    region = re.search(r"^Region: +(\S+)", alert, re.MULTILINE)
    account = re.search(r"^Account: +.*\((\d{12})\)", alert, re.MULTILINE)
    assert region
    assert account
    arns: list[Any] = ARN.findall(alert)
    assert len(arns) >= 3  # resource, vault, role
    for arn_region, arn_account in arns:
        assert arn_region in ("", region.group(1))
        assert arn_account == account.group(1)
    assert f"region={region.group(1)}" in alert


def test_normalizing_keeps_everything_but_ids_and_times() -> None:
    assert normalized("run run-1-94373489 at 2020-07-29T20:15:26Z id 122bc756-9d8e-47f7-83a3-6d282ccf00b0") == (
        "run <execution> at <time> id <id>"
    )
    assert normalized("Region: eu-west-1") != normalized("Region: us-west-2")
