"""The failure-alert path in the emulated organization: AWS Backup in a member account emits a job failure on its
default bus; the baseline's forwarding rule (from stacksets/member-account.yaml) sends it to the management
account's alerts bus; the alert rule (template.yaml) invokes the formatter; the message reaches the topic's
subscriber (an SQS queue here). Also: the management account's own failures, events that must not alert, and the
raw event still arriving when the formatter fails."""

import json
from collections.abc import Iterator

import pytest
from sample_events import read_event

from orgbackup_tools import simulation

MEMBER = "333333333333"


@pytest.fixture(scope="module")
def world() -> Iterator[simulation.World]:
    with simulation.World.emulate() as running:
        # Given the member account has its baseline (and so its forwarding rule) in both Regions
        running.execute({"mode": "manual", "account_ids": [MEMBER]})
        running.read_notifications()
        running.notifications.clear()
        yield running


@pytest.fixture(autouse=True)
def _signed_in(world: simulation.World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared world's credentials, which the per-test fake environment (conftest) would otherwise replace."""
    for key, value in world.environment.items():
        monkeypatch.setenv(key, value)


def new_notifications(world: simulation.World) -> list[dict[str, str]]:
    before = len(world.notifications)
    return world.read_notifications()[before:]


def test_a_member_backup_failure_reaches_the_topic_formatted(world) -> None:
    # When AWS Backup in the member account, in the second Region, reports a failed backup job
    event = read_event("backup/backup-job-failed.json")
    world.emit_backup_event(MEMBER, "eu-west-1", event)
    # Then one formatted alert arrives, naming the account (ID and looked-up name), the Region and the state
    (alert,) = new_notifications(world)
    assert MEMBER in alert["subject"]
    assert "FAILED" in alert["subject"]
    assert "workload-a" in alert["message"]
    assert "eu-west-1" in alert["message"]
    assert event["detail"]["backupJobId"] in alert["message"]


def test_the_management_accounts_own_failures_are_covered(world) -> None:
    event = read_event("backup/restore-job-failed.json")
    world.emit_backup_event(simulation.MANAGEMENT_ACCOUNT, simulation.HOME_REGION, event)
    (alert,) = new_notifications(world)
    assert simulation.MANAGEMENT_ACCOUNT in alert["subject"]


@pytest.mark.parametrize(
    "sample", ["backup/backup-job-completed.json", "backup/copy-job-running.json", "backup/restore-job-completed.json"]
)
def test_jobs_that_did_not_fail_send_nothing(world, sample) -> None:
    world.emit_backup_event(MEMBER, "us-east-1", read_event(sample))
    assert new_notifications(world) == []


def test_when_the_formatter_fails_the_raw_event_still_reaches_the_topic(world, monkeypatch) -> None:
    # Given the formatter is broken
    def broken(event, context):
        raise RuntimeError("formatter bug")

    monkeypatch.setitem(world.handlers, "FormatBackupAlertFunction", broken)
    event = read_event("backup/copy-job-failed.json")
    # When a copy job fails in the member account
    world.emit_backup_event(MEMBER, "us-east-1", event)
    # Then after Lambda's retries the OnFailure destination delivers the invocation record with the raw event
    (raw,) = new_notifications(world)
    record = json.loads(raw["message"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    # (the event AWS Backup emitted there: the sample re-targeted whole to this account and Region)
    emitted = simulation.retarget(event, MEMBER, "us-east-1")
    assert emitted["detail"]["sourceBackupVaultArn"].startswith("arn:aws:backup:us-east-1:")
    assert record["requestPayload"]["detail"] == emitted["detail"]
    assert record["requestPayload"]["account"] == MEMBER
