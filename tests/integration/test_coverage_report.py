"""The CoverageReport function against the emulated organization (onboarded by the real reconcile run, with the
seeded jobs of orgbackup_tools.coverage_demo), with the environment template.yaml gives it: the report lands in the
report bucket as JSON and HTML, and the notification topic hears only what got worse."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sample_events import read_event

from orgbackup.exceptions import InvalidInputError
from orgbackup.observability import metrics
from orgbackup_tools import coverage_demo, emulation, simulation

EXPECTED = {
    ("workload-a", "us-east-1"): "protected",
    ("workload-a", "eu-west-1"): "protected",
    ("workload-b-prod", "us-east-1"): "at_risk",
    ("workload-b-prod", "eu-west-1"): "protected",
    ("workload-c", "us-east-1"): "silent",
    ("workload-c", "eu-west-1"): "silent",
}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[simulation.World]:
    with simulation.World.emulate() as running:
        for key, value in running.environment.items():
            monkeypatch.setenv(key, value)
        running.execute({"mode": "reconcile"})
        coverage_demo.seed_jobs(running, datetime.now(UTC))
        running.read_notifications()
        running.notifications.clear()
        yield running


def run_report(world: simulation.World) -> dict[str, Any]:
    context = emulation.FakeLambdaContext("CoverageReportFunction", simulation.MANAGEMENT_ACCOUNT, "us-east-1")
    result: dict[str, Any] = world.handlers["CoverageReportFunction"](
        read_event("functions/coverage-report.json"), context
    )
    return result


def stored(world: simulation.World, key: str) -> bytes:
    bucket = world.resources["CoverageReportBucket"]["Ref"]
    body: bytes = world.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def new_notifications(world: simulation.World) -> list[dict[str, str]]:
    notes = list(world.read_notifications())
    world.notifications.clear()
    return notes


def test_the_daily_report_is_stored_and_only_what_got_worse_is_published(world: simulation.World) -> None:
    # When the first report runs
    first = run_report(world)
    # Then the report bucket holds the JSON and the page, latest and dated
    assert first["totals"] == {"protected": 3, "at_risk": 1, "silent": 2, "cells": 6}
    document = json.loads(stored(world, "coverage/latest.json"))
    states = {(a["name"], region): c["state"] for a in document["accounts"] for region, c in a["cells"].items()}
    assert states == EXPECTED
    assert b'data-state="silent"' in stored(world, "coverage/latest.html")
    assert first["keys"]["history_json"].startswith("coverage/history/")
    assert json.loads(stored(world, first["keys"]["history_json"])) == document
    # And, with no report before it, one message names the accounts that are not protected
    (note,) = new_notifications(world)
    assert note["subject"] == "orgbackup coverage: 2 accounts got worse"
    assert "workload-b-prod (444444444444) us-east-1: At risk (was not in the last report)" in note["message"]
    assert "workload-c (555555555555) eu-west-1: Silent" in note["message"]
    assert "Given key ID is not accessible" in note["message"]

    # When it runs again and nothing changed, nobody is told
    second = run_report(world)
    assert second["worsened"] == []
    assert second["message_id"] is None
    assert new_notifications(world) == []

    # When a backup fails in workload-a's eu-west-1, the next report tells about that cell only
    emulation.BACKUP_JOBS.record(
        "backup",
        coverage_demo.PROTECTED,
        "eu-west-1",
        "FAILED",
        CreationDate=datetime.now(UTC) - timedelta(minutes=30),
        StatusMessage="Insufficient privileges to perform this action.",
    )
    third = run_report(world)
    assert third["worsened"] == ["333333333333/eu-west-1"]
    (note,) = new_notifications(world)
    assert note["subject"] == "orgbackup coverage: 1 account got worse"
    assert "workload-a (333333333333) eu-west-1: At risk (was Protected)" in note["message"]
    assert "Insufficient privileges" in note["message"]
    assert "workload-c" not in note["message"].split("Totals:")[0]


def test_an_unreadable_previous_report_fails_the_run_and_writes_nothing(world: simulation.World) -> None:
    # Given a previous report that is not one
    bucket = world.resources["CoverageReportBucket"]["Ref"]
    world.client("s3").put_object(Bucket=bucket, Key="coverage/latest.json", Body=b'{"accounts": 3}')
    # When the report runs, it fails naming the field, and neither overwrites it nor publishes
    with pytest.raises(InvalidInputError, match="'accounts' must be a list"):
        run_report(world)
    assert stored(world, "coverage/latest.json") == b'{"accounts": 3}'
    assert new_notifications(world) == []


def test_the_counts_are_emitted_as_cloudwatch_metrics(
    world: simulation.World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given metrics switched on (the emulation switches them off to keep its output readable)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    # (runs with metrics switched off leave their values in the process-wide buffer: start from an empty one)
    metrics.clear_metrics()
    capsys.readouterr()
    # When the report runs
    run_report(world)
    # Then one embedded-metric-format record carries the counts the dashboard charts, in the OrgBackup namespace
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (record,) = [r for r in records if "CellsSilent" in r]
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OrgBackup"
    assert record["service"] == "orgbackup"
    # (Powertools writes each metric's values as a list: one value each here)
    assert (record["CellsProtected"], record["CellsAtRisk"], record["CellsSilent"]) == ([3.0], [1.0], [2.0])
    assert record["CellsWorsened"] == [3.0]
