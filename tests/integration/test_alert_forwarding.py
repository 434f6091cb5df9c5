"""The failure-alert path in the emulated organization: AWS Backup in a member account emits a job failure on its
default bus; the baseline's forwarding rule (from stacksets/member-account.yaml) sends it to the management
account's alerts bus; the alert rule (template.yaml) invokes the formatter; the message reaches the topic's
subscriber (an SQS queue here). Also: the management account's own failures, events that must not alert, and the
raw event kept in the alarmed dead-letter queue when the formatter fails."""

import json
from collections.abc import Iterator

import pytest
from sample_events import read_event

from orgbackup_tools import simulation

# The module-scoped fixture is built once: under xdist every test of this module runs on one worker.
pytestmark = pytest.mark.xdist_group("alert_forwarding_world")

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


def test_when_the_formatter_fails_the_raw_event_waits_in_the_alarmed_dead_letter_queue(world, monkeypatch) -> None:
    # Given the formatter is broken
    def broken(event, context):
        raise RuntimeError("formatter bug")

    monkeypatch.setitem(world.handlers, "FormatBackupAlertFunction", broken)
    event = read_event("backup/copy-job-failed.json")
    # When a copy job fails in the member account
    world.emit_backup_event(MEMBER, "us-east-1", event)
    # Then after Lambda's retries the OnFailure destination, the alerts dead-letter queue (not the topic the
    # publish may have failed on), holds the invocation record with the raw event
    assert new_notifications(world) == []
    (record,) = world.read_alerts_dead_letters()
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    # (the event AWS Backup emitted there: the sample re-targeted whole to this account and Region)
    emitted = simulation.retarget(event, MEMBER, "us-east-1")
    assert emitted["detail"]["sourceBackupVaultArn"].startswith("arn:aws:backup:us-east-1:")
    assert record["requestPayload"]["detail"] == emitted["detail"]
    assert record["requestPayload"]["account"] == MEMBER


# ------------------------------------------------------------------------------------------------------------------
# Deliveries honour the policies (emulation.delivery_refusal): the bus policy, the forwarder role, the topic policy


def _bus_policy(world: simulation.World, statement: dict) -> None:
    events = world.client("events")
    bus = world.resources["AlertsEventBus"]["Name"]
    events.put_permission(EventBusName=bus, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def test_a_bus_policy_that_admits_only_the_management_account_refuses_member_failures(world) -> None:
    from orgbackup_tools import emulation

    template = world.template["Resources"]["AlertsEventBusPolicy"]["Properties"]
    original = {"Sid": template["StatementId"], **world.intrinsics.resolve(template["Statement"])}
    narrowed = {
        "Sid": template["StatementId"],
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{simulation.MANAGEMENT_ACCOUNT}:root"},
        "Action": "events:PutEvents",
        "Resource": world.resources["AlertsEventBus"]["Arn"],
    }
    try:
        # Given the alerts bus admits the management account only
        _bus_policy(world, narrowed)
        refused_before = len(emulation.REFUSED_DELIVERIES)
        # When a member account's backup job fails
        world.emit_backup_event(MEMBER, "us-east-1", read_event("backup/backup-job-failed.json"))
        # Then nothing arrives, and the delivery was refused for the bus policy
        assert new_notifications(world) == []
        (refusal,) = emulation.REFUSED_DELIVERIES[refused_before:]
        assert "may not put events on" in refusal
        assert MEMBER in refusal
    finally:
        _bus_policy(world, original)
    # And with the template's policy back, it arrives
    world.emit_backup_event(MEMBER, "us-east-1", read_event("backup/backup-job-failed.json"))
    assert len(new_notifications(world)) == 1


def test_eventbridge_publishes_to_the_topic_only_as_its_policy_allows(world) -> None:
    from orgbackup_tools import emulation

    events, sns = world.client("events"), world.client("sns")
    topic = world.resources["NotificationTopic"]["Ref"]
    # Given a rule of the management account that targets the topic directly, which the template's topic policy
    # does not name (it admits EventBridge only for the baseline alarms rule, by aws:SourceArn)
    rule_arn = events.put_rule(Name="direct", EventPattern=json.dumps({"source": ["orgbackup.test"]}), State="ENABLED")[
        "RuleArn"
    ]
    events.put_targets(Rule="direct", Targets=[{"Id": "topic", "Arn": topic}])
    entry = {"Source": "orgbackup.test", "DetailType": "t", "Detail": "{}"}
    policy = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    try:
        # When an event matches it: it is refused
        refused_before = len(emulation.REFUSED_DELIVERIES)
        events.put_events(Entries=[entry])
        assert new_notifications(world) == []
        assert "does not let EventBridge publish" in emulation.REFUSED_DELIVERIES[refused_before]
        # When the topic policy admits EventBridge for that rule: it is published
        document = json.loads(policy)
        admit = {
            "Sid": "AdmitTheDirectRule",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }
        widened = {**document, "Statement": [*document["Statement"], admit]}
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(widened))
        events.put_events(Entries=[entry])
        assert len(new_notifications(world)) == 1
    finally:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=policy)
        events.remove_targets(Rule="direct", Ids=["topic"])
        events.delete_rule(Name="direct")
        # The test's own rule is no principal of the templates: its deliveries are not the product's calls, and the
        # refused one was refused on purpose (the least-privilege guard judges the rest at teardown).
        world.calls.calls[:] = [call for call in world.calls.calls if call.context.get("aws:SourceArn") != rule_arn]
