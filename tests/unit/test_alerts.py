"""The failure-alert formatter (`orgbackup.alerts`) and the FormatBackupAlert handler: typed parsing of AWS Backup's
job events, the message people read, the account-name cache and the publish call (pinned with botocore's Stubber)."""

import copy
import importlib.util
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from orgbackup import alerts, aws, retry, settings_loader, text
from orgbackup.alerts import (
    UNKNOWN_ACCOUNT,
    AccountNames,
    BackupJobEvent,
    CopyJobEvent,
    RestoreJobEvent,
    format_alert,
    parse_job_event,
)
from orgbackup.exceptions import ConfigurationError, InvalidInputError, RetryableConflictError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events" / "backup"
AWS_SAMPLES = Path(__file__).parent / "data" / "backup_events_aws"
HANDLER = ROOT / "functions" / "format_backup_alert" / "app.py"
TOPIC_ARN = "arn:aws:sns:us-east-1:111111111111:orgbackup-notifications"
NAMES = {"333333333333": "workload-a", "222222222222": "central-backup"}
JOB_SAMPLES = sorted(
    path
    for path in [*SAMPLES.glob("*.json"), *AWS_SAMPLES.glob("*.json")]
    if path.name.startswith(("backup-job-", "copy-job-", "restore-job-"))
)


def sample(name: str, folder: Path = SAMPLES) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
    return event


def names(account_id: str) -> str:
    return NAMES.get(account_id, UNKNOWN_ACCOUNT)


def field_line(message: str, label: str) -> str:
    """The value of the ``Label:`` line of a message."""
    for line in message.splitlines():
        if line.startswith(f"{label}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {label!r} line in:\n{message}")


def organizations_client() -> Any:
    return boto3.client("organizations", region_name="us-east-1")


def not_found(code: str) -> dict[str, Any]:
    return {"service_error_code": code, "service_message": f"{code} for the test", "http_status_code": 400}


# ------------------------------------------------------------------------------------------------------------------
# Parsing


@pytest.mark.parametrize("path", JOB_SAMPLES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_documented_and_sample_job_event_parses(path: Path) -> None:
    # Given a backup, copy or restore job event as AWS documents it (or derived from AWS's examples)
    event = json.loads(path.read_text(encoding="utf-8"))
    # When parsing it
    job = parse_job_event(event)
    # Then the model is the job type the detail-type names, with the state or status the event reports
    expected = {"backup": BackupJobEvent, "copy": CopyJobEvent, "restore": RestoreJobEvent}[path.name.split("-")[0]]
    assert isinstance(job, expected)
    assert job.state == event["detail"].get("status", event["detail"].get("state"))
    assert job.account_id == event["account"]
    assert job.region == event["region"]


def test_restore_jobs_read_status_not_state() -> None:
    # Given a failed restore job (restore events report `status`)
    event = sample("restore-job-failed.json")
    # When parsing it
    job = parse_job_event(event)
    # Then its state comes from detail.status and the message labels it "Status"
    assert isinstance(job, RestoreJobEvent)
    assert job.state == "FAILED"
    assert field_line(format_alert(job, names).message, "Status") == "FAILED"


def test_the_guides_created_restore_example_with_state_parses() -> None:
    # Given AWS's CREATED restore example, which says `state` where every other restore event says `status`
    event = sample("restore-job-created.json", AWS_SAMPLES)
    # When parsing it
    job = parse_job_event(event)
    # Then the state is read from there
    assert job.state == "CREATED"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e.update(source="aws.ec2"), "source: 'aws.ec2' is not 'aws.backup': not an AWS Backup event"),
        (lambda e: e.pop("source"), "source: missing (required)"),
        (
            lambda e: e.update({"detail-type": "Backup Vault State Change"}),
            "detail-type: 'Backup Vault State Change' is not a job event",
        ),
        (lambda e: e.pop("detail"), "detail: missing (required)"),
        (lambda e: e.update(detail=["FAILED"]), "detail: must be an object, got array"),
        (lambda e: e["detail"].pop("state"), "detail.state: missing (backup job events report their state in"),
        (lambda e: e["detail"].update(state=3), "detail.state: must be a string, got number 3"),
        (lambda e: e["detail"].update(state=" "), "detail.state: must not be empty"),
        (lambda e: e.update(account="abc"), "account: 'abc' is not an AWS account ID (digits only)"),
        (lambda e: e.update(account=333333333333), "account: must be a string, got number 333333333333"),
        (lambda e: e.pop("region"), "region: missing (the Region the job ran in)"),
        (lambda e: e.update(region="Oregon"), "region: 'Oregon' is not a Region name like us-east-1"),
        (
            lambda e: e["detail"].update(bytesTransferred="12 GB"),
            "detail.bytesTransferred: must be a whole number (a JSON number or a string of digits), got string '12 GB'",
        ),
        (lambda e: e["detail"].update(bytesTransferred=True), "detail.bytesTransferred: must be a whole number"),
        (lambda e: e["detail"].update(percentDone="most"), "detail.percentDone: must be a number"),
        (lambda e: e["detail"].update(creationDate="yesterday"), "detail.creationDate: 'yesterday' is not a timestamp"),
        (
            lambda e: e["detail"].update(creationDate=True),
            "detail.creationDate: must be a timestamp (ISO 8601 text or epoch number), got boolean true",
        ),
        (lambda e: e["detail"].update(creationDate=1e20), "detail.creationDate: 1e+20 is out of range"),
        (lambda e: e["detail"].update(resourceArn=42), "detail.resourceArn: must be an ARN string, got number 42"),
        (lambda e: e["detail"].update(statusMessage=["x"]), "detail.statusMessage: must be a string, got array"),
        (lambda e: e["detail"].update(createdBy="plan"), "detail.createdBy: must be an object, got string 'plan'"),
        (lambda e: e.update(time="soon"), "time: 'soon' is not a timestamp"),
        (lambda e: e.update(resources="arn"), "resources: must be a list of ARN strings"),
    ],
)
def test_malformed_events_are_rejected_naming_field_value_and_rule(
    mutate: Callable[[dict[str, Any]], object], expected: str
) -> None:
    # Given a failed backup job event with one fault
    event = sample("backup-job-failed.json")
    mutate(event)
    # When parsing it
    with pytest.raises(InvalidInputError) as raised:
        parse_job_event(event)
    # Then the error names the field, the value and the rule
    assert str(raised.value).startswith(expected), str(raised.value)


def test_a_restore_event_without_status_names_status() -> None:
    # Given a failed restore job event without its status
    event = sample("restore-job-failed.json")
    del event["detail"]["status"]
    # When parsing it
    with pytest.raises(InvalidInputError) as raised:
        parse_job_event(event)
    # Then the error names detail.status, not detail.state
    assert str(raised.value) == ("detail.status: missing (restore job events report their status in detail.status)")


@pytest.mark.parametrize("payload", [None, [], "event", 7])
def test_an_event_that_is_no_object_is_rejected(payload: object) -> None:
    # Given something that is no JSON object
    # When parsing it
    with pytest.raises(InvalidInputError, match=r"^event: must be an object \(an EventBridge event\), got "):
        parse_job_event(payload)
    # Then the error says what an event must be


# ------------------------------------------------------------------------------------------------------------------
# Numbers and timestamps


def test_string_typed_numbers_read_like_numbers() -> None:
    # Given the same copy failure with backupSizeInBytes as a number and as a string
    as_number = parse_job_event(sample("copy-job-failed.json"))
    as_string = parse_job_event(sample("copy-job-failed-string-numbers.json"))
    # When formatting both
    # Then both carry the same size, shown the same way
    assert as_number.backup_size_in_bytes == as_string.backup_size_in_bytes == 22548578304
    size = field_line(format_alert(as_string, names).message, "Size")
    assert size == field_line(format_alert(as_number, names).message, "Size")
    assert size == "22,548,578,304 bytes (21.0 GiB)"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("backupSizeInBytes", "36048", 36048),
        ("backupSizeInBytes", 36048, 36048),
        ("backupSizeInBytes", 36048.0, 36048),
        ("backupSizeInBytes", " 7 ", 7),
        ("bytesTransferred", "0", 0),
    ],
)
def test_whole_numbers_arrive_as_numbers_or_strings(field: str, value: object, expected: int) -> None:
    # Given a backup job event whose number field holds a JSON number or a string of digits
    event = sample("backup-job-completed.json")
    event["detail"][field] = value
    # When parsing it
    job = parse_job_event(event)
    # Then the model holds the integer
    assert isinstance(job, BackupJobEvent)
    assert (
        getattr(job, {"backupSizeInBytes": "backup_size_in_bytes", "bytesTransferred": "bytes_transferred"}[field])
        == expected
    )


def test_percent_done_as_string_or_number() -> None:
    # Given percentDone as numeric text and as a number
    event = sample("backup-job-running.json")
    event["detail"]["percentDone"] = "99.5"
    # When parsing and formatting
    job = parse_job_event(event)
    # Then it reads as a number either way
    assert job.percent_done == 99.5
    assert field_line(format_alert(job, names).message, "Percent done") == "99.5%"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-07-29T20:13:07.392Z", "2020-07-29T20:13:07.392Z"),
        ("2020-07-29T22:13:07+02:00", "2020-07-29T20:13:07Z"),
        ("2020-07-29T20:13:07", "2020-07-29T20:13:07Z"),
        (1596053587, "2020-07-29T20:13:07Z"),
        (1596053587.392, "2020-07-29T20:13:07.392Z"),
        (1596053587392, "2020-07-29T20:13:07.392Z"),
        ("1596053587", "2020-07-29T20:13:07Z"),
        ("1596053587392", "2020-07-29T20:13:07.392Z"),
        ("Jul 29, 2020 8:13:07 PM", "2020-07-29T20:13:07Z"),
    ],
)
def test_timestamps_from_iso_text_epoch_numbers_or_strings(value: object, expected: str) -> None:
    # Given a creation date as ISO 8601 text, epoch seconds or milliseconds (number or text), or Java's format
    event = sample("backup-job-failed.json")
    event["detail"]["creationDate"] = value
    # When formatting the alert
    message = format_alert(parse_job_event(event), names).message
    # Then "Started" is the UTC ISO 8601 time
    assert field_line(message, "Started") == expected


def test_the_failure_time_is_the_completion_date_when_there_is_one() -> None:
    # Given an aborted job with a completion date
    job = parse_job_event(sample("backup-job-aborted.json"))
    # When formatting it
    message = format_alert(job, names).message
    # Then the "Aborted" line is the completion date
    assert field_line(message, "Aborted") == "2020-07-15T21:33:01.621Z"
    assert job.completion_date == datetime(2020, 7, 15, 21, 33, 1, 621000, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------------------------
# The message


def test_a_backup_failure_message_carries_every_field() -> None:
    # Given the failed backup job sample of member account workload-a
    job = parse_job_event(sample("backup-job-failed.json"))
    # When formatting it
    alert = format_alert(job, names)
    # Then the subject names job type, state, account name and ID, and Region
    assert alert.subject == "AWS Backup: backup job FAILED in workload-a (333333333333) us-west-2"
    # And the body has account, Region, job, resource, vault, state, status message, both times and a console link
    message = alert.message
    assert field_line(message, "Account") == "workload-a (333333333333)"
    assert field_line(message, "Region") == "us-west-2"
    assert field_line(message, "Job") == "backup job 34176239-e96d-4e1d-9fad-529dbb3c3556"
    assert field_line(message, "State") == "FAILED"
    assert field_line(message, "Resource") == "EBS arn:aws:ec2:us-west-2:333333333333:volume/vol-0b5ae24f2ee72d926"
    assert field_line(message, "Vault") == (
        "orgbackup-member (arn:aws:backup:us-west-2:333333333333:backup-vault:orgbackup-member)"
    )
    assert field_line(message, "Started") == "2020-07-29T20:13:07.392Z"
    # AWS's FAILED example has no completionDate: the event's time stands in, and says so
    assert field_line(message, "Failed") == "2020-07-29T20:15:26Z (time of the event; it carries no completion date)"
    assert field_line(message, "IAM role") == "arn:aws:iam::333333333333:role/OrgBackupServiceRole"
    # The literal quotes AWS puts around the message are dropped
    assert (
        "  Backup job failed because backup vault arn:aws:backup:us-west-2:333333333333:backup-vault:orgbackup-member "
        "does not exist.\n" in message
    )
    assert "What to do next:\n  Read the status message and fix its cause" in message
    assert (
        "Console (backup jobs in us-west-2; look for job ID 34176239-e96d-4e1d-9fad-529dbb3c3556): "
        "https://console.aws.amazon.com/backup/home?region=us-west-2#/jobs/backup\n" in message
    )
    assert message.endswith("EventBridge event ID: 710b0398-d48e-f3c3-afca-cfeb2fdaa656\n")


def test_a_copy_failure_message_names_both_vaults_and_the_destination_account() -> None:
    # Given the failed cross-account copy to the central vault
    job = parse_job_event(sample("copy-job-failed.json"))
    # When formatting it
    alert = format_alert(job, names)
    # Then the body names source and destination vaults, the central account, and links the copy job
    message = alert.message
    assert alert.subject == "AWS Backup: copy job FAILED in workload-a (333333333333) us-west-2"
    assert field_line(message, "Job") == "copy job 47C8EF56-74D8-059D-1301-C5BE1D5C926E"
    assert field_line(message, "Resource") == "EC2 arn:aws:ec2:us-west-2:333333333333:instance/i-0515aee7de03f58e1"
    assert field_line(message, "From vault") == (
        "orgbackup-member (arn:aws:backup:us-west-2:333333333333:backup-vault:orgbackup-member)"
    )
    assert field_line(message, "To vault") == (
        "orgbackup-central (arn:aws:backup:us-west-2:222222222222:backup-vault:orgbackup-central), account 222222222222"
    )
    assert field_line(message, "Failed") == "2020-07-15T20:37:28.704Z"
    assert "  Access denied exception while trying to list tags\n" in message
    assert "Given key ID is not accessible" in message
    # `"destinationRecoveryPointArn": {}` means no destination recovery point: no line for it
    assert "Copied to:" not in message
    assert (
        "Console (job details): https://console.aws.amazon.com/backup/home?region=us-west-2"
        "#/jobs/copy/details/47C8EF56-74D8-059D-1301-C5BE1D5C926E\n" in message
    )


def test_a_restore_failure_message() -> None:
    # Given the failed restore job sample
    alert = format_alert(parse_job_event(sample("restore-job-failed.json")), names)
    # When reading the message
    message = alert.message
    # Then it is labelled with the restore's status and links the restore job
    assert alert.subject == "AWS Backup: restore job FAILED in workload-a (333333333333) us-west-2"
    assert field_line(message, "Job") == "restore job 1B234A56-789B-01CD-2A34-4567A08901FD"
    assert field_line(message, "Status") == "FAILED"
    assert field_line(message, "Resource").startswith("EC2 ")
    assert field_line(message, "Created resource") == "none reported"
    assert field_line(message, "Event resources") == "arn:aws:ec2:us-west-2::image/ami-12b3456dfb7f8cf90"
    assert "  AWS Backup does not permit attaching a new instance profile to an EC2 instance." in message
    assert "Nothing usable was restored." in message
    assert (
        "https://console.aws.amazon.com/backup/home?region=us-west-2"
        "#/jobs/restore/details/1B234A56-789B-01CD-2A34-4567A08901FD" in message
    )


@pytest.mark.parametrize(
    ("name", "next_step"),
    [
        ("backup-job-aborted.json", "The job was stopped before it finished"),
        ("backup-job-expired.json", "The job did not start within the rule's start window"),
    ],
)
def test_each_failure_state_has_its_own_next_step(name: str, next_step: str) -> None:
    # Given an aborted or expired backup job
    # When formatting it
    message = format_alert(parse_job_event(sample(name)), names).message
    # Then the advice fits that state
    assert f"What to do next:\n  {next_step}" in message


def test_completed_with_issues_has_its_own_wording() -> None:
    # Given a COMPLETED backup job with a status message
    job = parse_job_event(sample("backup-job-completed-with-issues.json"))
    # When formatting it
    alert = format_alert(job, names)
    # Then subject and body say "completed with issues", show the real state, and ask to check the recovery point
    assert job.completed_with_issues
    assert alert.subject == "AWS Backup: backup job COMPLETED WITH ISSUES in workload-a (333333333333) us-west-2"
    assert field_line(alert.message, "State") == "COMPLETED WITH ISSUES (state COMPLETED)"
    assert field_line(alert.message, "Completed") == "2020-07-15T21:41:05.921Z"
    assert "  Windows VSS Backup attempt failed" in alert.message
    assert "The recovery point was created, but AWS Backup reported an issue" in alert.message


def test_a_completed_job_without_a_status_message_is_not_completed_with_issues() -> None:
    # Given AWS's COMPLETED backup example (no status message)
    job = parse_job_event(sample("backup-job-completed.json", AWS_SAMPLES))
    # When formatting it anyway
    alert = format_alert(job, names)
    # Then it is plainly COMPLETED and says there is nothing to do
    assert not job.completed_with_issues
    assert "COMPLETED in" in alert.subject
    assert "state COMPLETED is not a failure: nothing to do" in alert.message


def test_missing_optional_fields_are_named_not_fatal() -> None:
    # Given a failed backup job event with nothing but the required fields
    event = {
        "source": "aws.backup",
        "detail-type": "Backup Job State Change",
        "account": "333333333333",
        "region": "eu-west-1",
        "detail": {"state": "FAILED"},
    }
    # When formatting it
    alert = format_alert(event, names)
    # Then every absent field says so, and the console link falls back to the Region's backup job list
    message = alert.message
    assert alert.subject == "AWS Backup: backup job FAILED in workload-a (333333333333) eu-west-1"
    assert field_line(message, "Job") == "backup job (ID not in the event)"
    assert field_line(message, "Resource") == "(not in the event) (not in the event)"
    assert field_line(message, "Vault") == "(not in the event)"
    assert field_line(message, "Started") == "(not in the event)"
    assert field_line(message, "Failed") == "(not in the event)"
    assert "Status message:\n  (not in the event)\n" in message
    assert (
        "Console (backup jobs in eu-west-1): https://console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/backup"
        in message
    )
    assert "EventBridge event ID" not in message


def test_the_guides_created_copy_example_without_a_job_id_formats() -> None:
    # Given AWS's CREATED copy example, which has no copyJobId
    job = parse_job_event(sample("copy-job-created.json", AWS_SAMPLES))
    # When formatting it
    message = format_alert(job, names).message
    # Then the link is the copy job list, not a details page
    assert job.job_id is None
    assert (
        "Console (copy jobs in us-west-2): https://console.aws.amazon.com/backup/home?region=us-west-2#/jobs/copy"
        in message
    )


def test_an_empty_status_message_is_shown_as_empty() -> None:
    # Given a COMPLETED backup job with an empty status message (present: the rule's "exists" matches it)
    event = sample("backup-job-completed-with-issues.json")
    event["detail"]["statusMessage"] = ""
    # When formatting it
    message = format_alert(event, names).message
    # Then it still counts as completed with issues, and the message says the text was empty
    assert "Status message:\n  (empty)\n" in message


def test_a_long_status_message_is_cut() -> None:
    # Given a failure whose status message is 10,000 characters
    event = sample("backup-job-failed.json")
    event["detail"]["statusMessage"] = "x" * 10_000
    # When formatting it
    message = format_alert(event, names).message
    # Then the message quotes the first 4,000 and counts the rest
    assert f"  {'x' * 4000}... (10000 characters)\n" in message


def test_every_job_sample_formats_with_the_sns_subject_rules() -> None:
    # Given every job sample, ours and AWS's
    for path in JOB_SAMPLES:
        # When formatting it
        alert = format_alert(json.loads(path.read_text(encoding="utf-8")), names)
        # Then the subject is 1-99 printable ASCII characters on one line ("less than 100", Publish reference)
        assert 0 < len(alert.subject) < 100, path
        assert all(32 <= ord(ch) < 127 for ch in alert.subject), path


def test_a_long_non_ascii_account_name_is_shortened_to_fit_the_subject() -> None:
    # Given an account whose name is 50 characters, not all ASCII, and the longest state label
    event = sample("backup-job-completed-with-issues.json")
    event["region"] = "ap-southeast-4"

    def long_name(_account_id: str) -> str:
        return "Zahlungsverkehr-Produktion-Europäische-Union-Konto"

    # When formatting it
    alert = format_alert(event, long_name)
    # Then the subject keeps account ID and Region, shortens the name, and stays within SNS's limits
    assert (
        alert.subject
        == "AWS Backup: backup job COMPLETED WITH ISSUES in Zahlungsverkehr-Pr... (333333333333) ap-southeast-4"
    )
    assert len(alert.subject) == 99
    assert all(32 <= ord(ch) < 127 for ch in alert.subject)
    assert "\n" not in alert.subject
    # And the body keeps the full name
    assert "Zahlungsverkehr-Produktion-Europäische-Union-Konto (333333333333)" in alert.message


@pytest.mark.parametrize(
    ("region", "partition", "console"),
    [
        ("us-west-2", "aws", "https://console.aws.amazon.com/backup/home?region=us-west-2"),
        ("us-gov-west-1", "aws-us-gov", "https://console.amazonaws-us-gov.com/backup/home?region=us-gov-west-1"),
        ("cn-north-1", "aws-cn", "https://console.amazonaws.cn/backup/home?region=cn-north-1"),
    ],
)
def test_console_links_use_the_partitions_console(region: str, partition: str, console: str) -> None:
    # Given a failed restore and a failed copy in a Region of each partition, their ARNs in that partition
    for name, path in (("restore-job-failed.json", "restore"), ("copy-job-failed.json", "copy")):
        text = json.dumps(sample(name)).replace("arn:aws:", f"arn:{partition}:").replace("us-west-2", region)
        job = parse_job_event(json.loads(text))
        # When formatting it
        message = format_alert(job, names).message
        # Then the link goes to that partition's console, in the job's Region
        assert job.partition == partition
        assert f"Console (job details): {console}#/jobs/{path}/details/{job.job_id}\n" in message


def test_the_partition_comes_from_the_region_when_the_event_has_no_arn() -> None:
    # Given a GovCloud backup failure without any ARN
    event = {
        "source": "aws.backup",
        "detail-type": "Backup Job State Change",
        "account": "333333333333",
        "region": "us-gov-east-1",
        "detail": {"state": "FAILED", "backupJobId": "job-1"},
    }
    # When formatting it
    message = format_alert(event, names).message
    # Then the link uses the GovCloud console
    assert "https://console.amazonaws-us-gov.com/backup/home?region=us-gov-east-1#/jobs/backup" in message


def test_a_partition_without_a_known_console_gets_no_link() -> None:
    # Given a failure in an isolated partition
    text = json.dumps(sample("restore-job-failed.json")).replace("arn:aws:", "arn:aws-iso:")
    event = json.loads(text.replace("us-west-2", "us-iso-east-1"))
    # When formatting it
    message = format_alert(event, names).message
    # Then the message says why there is no link
    assert "Console: no console link: no known console domain for partition 'aws-iso'" in message
    assert "https://" not in message


# ------------------------------------------------------------------------------------------------------------------
# Account names


def test_account_names_are_looked_up_once_per_account() -> None:
    # Given Organizations knows account 333333333333 as workload-a (exactly one answer pinned)
    client = organizations_client()
    account_names = AccountNames(client)
    with Stubber(client) as stub:
        stub.add_response(
            "describe_account",
            {"Account": {"Id": "333333333333", "Name": "workload-a"}},
            {"AccountId": "333333333333"},
        )
        # When two alerts for that account are formatted
        first = format_alert(sample("backup-job-failed.json"), account_names)
        second = format_alert(sample("copy-job-failed.json"), account_names)
        # Then Organizations was asked once, and both alerts carry the name
        stub.assert_no_pending_responses()
    assert account_names.lookups == 1
    assert "workload-a (333333333333)" in first.subject
    assert "workload-a (333333333333)" in second.subject


@pytest.mark.parametrize("code", ["AccountNotFoundException", "AccessDeniedException"])
def test_an_unknown_account_gives_unknown_account(code: str) -> None:
    # Given Organizations does not know the account (or will not describe it)
    client = organizations_client()
    account_names = AccountNames(client)
    with Stubber(client) as stub:
        stub.add_client_error("describe_account", **not_found(code), expected_params={"AccountId": "333333333333"})
        # When formatting an alert for it, twice
        alert = format_alert(sample("backup-job-failed.json"), account_names)
        assert account_names("333333333333") == UNKNOWN_ACCOUNT
    # Then the alert says "unknown account" instead of failing, and the answer is cached
    assert alert.subject == "AWS Backup: backup job FAILED in unknown account (333333333333) us-west-2"
    assert field_line(alert.message, "Account") == "unknown account (333333333333)"
    assert account_names.lookups == 1


def test_an_account_id_organizations_cannot_hold_is_not_looked_up() -> None:
    # Given AWS's documented example, whose account ID has 13 digits
    client = organizations_client()
    account_names = AccountNames(client)
    with Stubber(client) as stub:
        # When formatting it (no answer pinned: any call would fail the test)
        alert = format_alert(sample("backup-job-failed.json", AWS_SAMPLES), account_names)
        stub.assert_no_pending_responses()
    # Then the account is unknown without asking Organizations
    assert "unknown account (1112233445566)" in alert.subject
    assert account_names.lookups == 0


def test_other_lookup_errors_propagate() -> None:
    # Given Organizations fails with an error that says nothing about the account
    client = organizations_client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_account", "ServiceException", "try later", 500)
        # When looking the account up
        # Then the error propagates (the alert fails and Lambda's OnFailure destination delivers the raw event)
        with pytest.raises(ClientError, match="ServiceException"):
            AccountNames(client)("333333333333")


def test_throttled_lookups_are_retried_with_bounded_backoff(no_sleep: list[float]) -> None:
    # Given Organizations throttles once, then answers
    client = organizations_client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_account", "TooManyRequestsException", "slow down", 400)
        stub.add_response("describe_account", {"Account": {"Id": "333333333333", "Name": "workload-a"}})
        # When looking the account up
        name = AccountNames(client)("333333333333")
    # Then the retry (with a recorded, not slept, backoff) gets the name
    assert name == "workload-a"
    assert len(no_sleep) == 1


def test_the_process_wide_cache_is_built_once_and_can_be_reset() -> None:
    # Given no process-wide cache yet
    alerts.reset_process_account_names()
    made: list[int] = []

    def make_client() -> Any:
        made.append(1)
        return organizations_client()

    # When asking for it twice
    first = alerts.process_account_names(make_client)
    second = alerts.process_account_names(make_client)
    # Then one client and one cache serve both; a reset starts afresh
    assert first is second
    assert len(made) == 1
    alerts.reset_process_account_names()
    assert alerts.process_account_names(make_client) is not first
    alerts.reset_process_account_names()


# ------------------------------------------------------------------------------------------------------------------
# Settings, publishing and the handler


def test_settings_read_the_topic_arn() -> None:
    # Given the function's environment
    # When loading the settings
    settings = settings_loader.load(alerts.AlertSettings, {"NOTIFICATION_TOPIC_ARN": TOPIC_ARN, "OTHER": "ignored"})
    # Then the topic ARN is there
    assert settings.notification_topic_arn == TOPIC_ARN


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "NOTIFICATION_TOPIC_ARN is required but not set"),
        ({"NOTIFICATION_TOPIC_ARN": "orgbackup-notifications"}, "NOTIFICATION_TOPIC_ARN='orgbackup-notifications' is"),
    ],
)
def test_settings_name_a_missing_or_bad_topic(values: dict[str, str], expected: str) -> None:
    # Given no or a malformed topic ARN
    # When loading the settings
    with pytest.raises(ConfigurationError) as raised:
        settings_loader.load(alerts.AlertSettings, values)
    # Then the error names the variable
    assert str(raised.value).startswith(expected)


def publish_params(alert: alerts.Alert, job_type: str, state: str) -> dict[str, Any]:
    return {
        "TopicArn": TOPIC_ARN,
        "Subject": alert.subject,
        "Message": alert.message,
        "MessageAttributes": {
            "job_type": {"DataType": "String", "StringValue": job_type},
            "state": {"DataType": "String", "StringValue": state},
            "account_id": {"DataType": "String", "StringValue": "333333333333"},
            "region": {"DataType": "String", "StringValue": "us-west-2"},
        },
    }


def test_send_alert_publishes_the_formatted_message() -> None:
    # Given an SNS client that expects exactly the formatted alert
    event = sample("backup-job-expired.json")
    alert = format_alert(event, names)
    sns = boto3.client("sns", region_name="us-east-1")
    with Stubber(sns) as stub:
        stub.add_response("publish", {"MessageId": "m-1"}, publish_params(alert, "backup", "EXPIRED"))
        # When sending the alert
        result = alerts.send_alert(event, names, sns, TOPIC_ARN)
        stub.assert_no_pending_responses()
    # Then subject and message ID come back
    assert result == {"subject": alert.subject, "message_id": "m-1"}


def test_send_alert_raises_before_publishing_a_malformed_event() -> None:
    # Given a restore failure without its Region
    event = sample("restore-job-failed.json")
    del event["region"]
    sns = boto3.client("sns", region_name="us-east-1")
    with Stubber(sns) as stub:
        # When sending it (no publish answer pinned)
        # Then it raises, so Lambda's OnFailure destination publishes the raw event instead
        with pytest.raises(InvalidInputError, match=r"^region: missing"):
            alerts.send_alert(event, names, sns, TOPIC_ARN)
        stub.assert_no_pending_responses()


def test_send_alert_raises_when_publishing_fails() -> None:
    # Given SNS refuses the message
    event = sample("copy-job-failed.json")
    sns = boto3.client("sns", region_name="us-east-1")
    with Stubber(sns) as stub:
        stub.add_client_error("publish", "AuthorizationError", "not allowed", 403)
        # When sending it
        # Then the error propagates (never swallowed)
        with pytest.raises(ClientError, match="AuthorizationError"):
            alerts.send_alert(event, names, sns, TOPIC_ARN)


class FakeContext:
    function_name = "orgbackup-FormatBackupAlertFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:111111111111:function:orgbackup-FormatBackupAlertFunction"
    aws_request_id = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def handler() -> Iterator[ModuleType]:
    """functions/format_backup_alert/app.py, loaded by path (every function's module is named app)."""
    spec = importlib.util.spec_from_file_location("format_backup_alert_app", HANDLER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    alerts.reset_process_account_names()
    yield module
    alerts.reset_process_account_names()


def test_the_handler_formats_and_publishes(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the function's environment and stubbed Organizations and SNS clients
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", TOPIC_ARN)
    event = sample("restore-job-failed.json")
    alert = format_alert(event, names)
    organizations = organizations_client()
    sns = boto3.client("sns", region_name="us-east-1")
    clients = {"organizations": organizations, "sns": sns}
    monkeypatch.setattr(aws, "client", lambda service, *args, **kwargs: clients[service])
    with Stubber(organizations) as org_stub, Stubber(sns) as sns_stub:
        org_stub.add_response("describe_account", {"Account": {"Id": "333333333333", "Name": "workload-a"}})
        sns_stub.add_response("publish", {"MessageId": "m-2"}, publish_params(alert, "restore", "FAILED"))
        # When EventBridge invokes it
        result = handler.lambda_handler(event, FakeContext())
        sns_stub.assert_no_pending_responses()
    # Then it returns the subject and message ID
    assert result == {"subject": alert.subject, "message_id": "m-2"}


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_the_handler_raises_without_its_topic(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no NOTIFICATION_TOPIC_ARN in the environment
    monkeypatch.delenv("NOTIFICATION_TOPIC_ARN", raising=False)
    # When invoked
    # Then it fails naming the variable (and the raw event reaches the topic through OnFailure)
    with pytest.raises(ConfigurationError, match="NOTIFICATION_TOPIC_ARN is required"):
        handler.lambda_handler(sample("backup-job-failed.json"), FakeContext())


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_the_handler_raises_on_a_malformed_event(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the function's environment and an event that is not a job event
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", TOPIC_ARN)
    monkeypatch.setattr(aws, "client", lambda service, *args, **kwargs: boto3.client(service, region_name="us-east-1"))
    # When invoked
    # Then it raises instead of publishing half a message
    with pytest.raises(InvalidInputError, match=r"^source: 'aws\.ec2'"):
        handler.lambda_handler(sample("not-backup-ec2-state-change.json"), FakeContext())


def test_retries_that_run_out_raise_a_retryable_error(no_sleep: list[float]) -> None:
    # Given SNS throttles every attempt
    sns = boto3.client("sns", region_name="us-east-1")
    with Stubber(sns) as stub:
        for _ in range(6):
            stub.add_client_error("publish", "Throttling", "slow down", 400)
        # When sending an alert
        # Then the bounded retries end in an error (Lambda retries the invocation, then OnFailure delivers)
        with pytest.raises(RetryableConflictError):
            alerts.send_alert(copy.deepcopy(sample("backup-job-failed.json")), names, sns, TOPIC_ARN)
    # (throttling that outlasted botocore's attempts gets retry.THROTTLING_ATTEMPTS in-process attempts: 4)
    assert len(no_sleep) == retry.THROTTLING_ATTEMPTS - 1 == 3


def test_a_restore_test_failure_is_named_as_a_restore_test() -> None:
    # Given a failed restore job started by a restore testing plan
    event = sample("restore-test-job-failed.json")
    # When it is formatted
    alert = format_alert(event, names)
    # Then subject and message say "restore test", name the plan and give the restore-test next step
    assert alert.subject == "AWS Backup: restore test job FAILED in workload-a (333333333333) us-west-2"
    assert alert.message.startswith("AWS Backup: restore test job FAILED in workload-a (333333333333), us-west-2.")
    assert field_line(alert.message, "Restore testing plan").endswith(
        ":restore-testing-plan:orgbackup_restore_tests-1a2b3c4d"
    )
    assert "scheduled restore test could not restore this recovery point" in alert.message
    # And a restore a person started still reads as a restore job
    assert format_alert(sample("restore-job-failed.json"), names).subject.startswith("AWS Backup: restore job FAILED")


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Müller-Prod", "M?ller-Prod"),  # a non-ASCII letter in a name that fits: replaced, not cut
        ("Café\u00a0Ops", "Caf? Ops"),  # a no-break space is whitespace: the name's words join with one space
        ("ops\u200bteam", "ops?team"),  # an invisible, non-ASCII format character
        ("ops\x7fteam", "ops?team"),  # DEL is ASCII but not printable
    ],
)
def test_every_character_of_a_short_account_name_that_sns_refuses_is_replaced(name: str, shown: str) -> None:
    # Given an account name that fits the subject but holds a character outside printable ASCII
    event = sample("backup-job-failed.json")
    # When formatting the alert
    alert = format_alert(event, lambda _account_id: name)
    # Then the subject names the account with that character replaced, and holds only printable ASCII
    assert f" in {shown} (" in alert.subject
    assert all(32 <= ord(ch) < 127 for ch in alert.subject)
    # And the body names the account as readable text: cleaned only of what could forge or hide lines (security
    # review, finding 10: orgbackup.text.one_line)
    assert f"in {text.one_line(name)} (" in alert.message
