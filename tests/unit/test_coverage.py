"""The coverage report's domain (orgbackup.coverage) and its HTML page (orgbackup.coverage_html), from data alone."""

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from orgbackup import coverage, coverage_html
from orgbackup.baseline import InstanceState
from orgbackup.exceptions import InvalidInputError

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
A, B = "333333333333", "444444444444"
CENTRAL = "arn:aws:backup:us-east-1:222222222222:backup-vault:orgbackup-central"
SCOPE = coverage.Scope(
    organization_id="o-ab12cd34ef",
    management_account_id="111111111111",
    central_backup_account_id="222222222222",
    central_vault_name="orgbackup-central",
    regions=("us-east-1", "eu-west-1"),
)
CURRENT = InstanceState("CURRENT", "SUCCEEDED")
POLICY = {
    region: coverage.RegionPolicy(plans=("orgbackup-daily",), copy_targets=(CENTRAL,))
    for region in ("us-east-1", "eu-west-1")
}


def job(kind: str, state: str, hours_ago: float, account: str = A, region: str = "us-east-1", **extra: Any):
    return coverage.Job(
        kind=kind,  # type: ignore[arg-type]
        account_id=account,
        region=region,
        job_id=f"{kind}-{hours_ago}",
        state=state,
        created=NOW - timedelta(hours=hours_ago + 1),
        completed=NOW - timedelta(hours=hours_ago),
        **extra,
    )


def cell(jobs: list[coverage.Job], *, instance: InstanceState | None = CURRENT, policy: Any = POLICY) -> coverage.Cell:
    inputs = coverage.Inputs(
        accounts=[coverage.Account(A, "workload-a")],
        instances={A: {"us-east-1": instance}} if instance else {},
        policies={A: policy},
        jobs=jobs,
        now=NOW,
    )
    return coverage.assess_cell(coverage.Account(A, "workload-a"), "us-east-1", inputs, SCOPE)


def central_copy(state: str, hours_ago: float, **extra: Any) -> coverage.Job:
    return job("copy", state, hours_ago, destination_vault_arn=CENTRAL, **extra)


# ---------------------------------------------------------------------------------------------------------------
# States and reasons


def test_backups_and_central_copies_completed_is_protected_with_the_evidence() -> None:
    # Given a backup and its copy into the central vault, and a passed restore test
    result = cell(
        [
            job("backup", "COMPLETED", 2),
            central_copy("COMPLETED", 1),
            job("restore_test", "COMPLETED", 50, restore_testing_plan_arn="arn:aws:backup:us-east-1:1:plan"),
        ]
    )
    # Then the cell is protected and says why
    assert result.state == "protected"
    assert "1 backup completed in 7 days, the last 2 h ago" in result.reason
    assert "last copy into the central vault 1 h ago" in result.reason
    assert "last restore test passed 2 days ago" in result.reason
    assert result.last_restore_test == NOW - timedelta(hours=50)


@pytest.mark.parametrize(
    ("instance", "policy", "cause"),
    [
        (None, POLICY, "no baseline stack instance in us-east-1"),
        (InstanceState("OUTDATED", "FAILED", "Vault exists"), POLICY, "baseline stack instance OUTDATED/FAILED"),
        (CURRENT, None, "no backup policy in force for the account"),
        (CURRENT, {"eu-west-1": POLICY["eu-west-1"]}, "the backup policies in force do not cover us-east-1"),
        (CURRENT, POLICY, "no resource carries the backup tag"),
    ],
)
def test_no_job_in_a_week_is_silent_with_the_cause_named(instance: Any, policy: Any, cause: str) -> None:
    # Given no backup job in 7 days (an older one does not count)
    result = cell([job("backup", "COMPLETED", 24 * 8)], instance=instance, policy=policy)
    # Then the cell is silent, and the reason names what the evidence points at
    assert result.state == "silent"
    assert result.reason.startswith("no backup job in 7 days; ")
    assert cause in result.reason


def test_a_failed_copy_into_the_central_vault_puts_the_cell_at_risk() -> None:
    result = cell(
        [job("backup", "COMPLETED", 3), central_copy("FAILED", 2, status_message="Given key ID is not accessible")]
    )
    assert result.state == "at_risk"
    assert "1 copy job failed in 24 h (FAILED: Given key ID is not accessible)" in result.reason
    assert "copies missing" in result.reason


def test_backups_without_any_central_copy_are_at_risk_when_the_policy_asks_for_copies() -> None:
    assert "copies missing" in cell([job("backup", "COMPLETED", 3)]).reason
    # ... but not when the policy in force has no copy action
    no_copies = {"us-east-1": coverage.RegionPolicy(plans=("p",), copy_targets=())}
    assert cell([job("backup", "COMPLETED", 3)], policy=no_copies).state == "protected"


def test_a_copy_to_another_vault_is_not_a_central_copy() -> None:
    other = job("copy", "COMPLETED", 1, destination_vault_arn="arn:aws:backup:us-east-1:999999999999:backup-vault:x")
    assert "copies missing" in cell([job("backup", "COMPLETED", 3), other]).reason


@pytest.mark.parametrize("state", ["FAILED", "ABORTED", "EXPIRED"])
def test_a_failed_backup_in_the_last_day_is_at_risk(state: str) -> None:
    result = cell([job("backup", "COMPLETED", 30), job("backup", state, 2), central_copy("COMPLETED", 29)])
    assert result.state == "at_risk"
    assert f"1 backup job failed in 24 h ({state}:" in result.reason


def test_an_older_failure_followed_by_success_is_protected() -> None:
    result = cell([job("backup", "FAILED", 48), job("backup", "COMPLETED", 2), central_copy("COMPLETED", 1)])
    assert result.state == "protected"


def test_only_failed_backups_in_a_week_are_at_risk() -> None:
    assert "no backup completed in 7 days" in cell([job("backup", "FAILED", 30)]).reason


def test_completed_with_issues_is_protected_but_said() -> None:
    result = cell([job("backup", "COMPLETED", 2, status_message="VSS failed"), central_copy("COMPLETED", 1)])
    assert result.state == "protected"
    assert "1 of them with issues" in result.reason
    assert result.day["backup"].completed_with_issues == 1


def test_the_latest_restore_test_failing_is_at_risk_and_a_later_success_clears_it() -> None:
    plan = {"restore_testing_plan_arn": "arn:aws:backup:us-east-1:1:restore-testing-plan:p"}
    failed = job("restore_test", "FAILED", 5, status_message="restore failed", **plan)
    base = [job("backup", "COMPLETED", 2), central_copy("COMPLETED", 1)]
    assert "the latest restore test failed (FAILED: restore failed)" in cell([*base, failed]).reason
    assert cell([*base, failed, job("restore_test", "COMPLETED", 3, **plan)]).state == "protected"


def test_an_outdated_baseline_with_jobs_is_at_risk() -> None:
    result = cell(
        [job("backup", "COMPLETED", 2), central_copy("COMPLETED", 1)], instance=InstanceState("OUTDATED", "FAILED")
    )
    assert result.state == "at_risk"
    assert "baseline stack instance OUTDATED/FAILED" in result.reason


def test_jobs_of_other_accounts_and_regions_do_not_count() -> None:
    assert cell(
        [job("backup", "COMPLETED", 2, account=B), job("backup", "COMPLETED", 2, region="eu-west-1")]
    ).state == ("silent")


# ---------------------------------------------------------------------------------------------------------------
# Effective policy


def test_region_policies_read_plans_regions_and_copy_targets() -> None:
    content = json.dumps(
        {
            "plans": {
                "daily": {
                    "regions": ["us-east-1", "eu-west-1"],
                    "rules": {"r": {"copy_actions": {CENTRAL: {"target_backup_vault_arn": CENTRAL}}}},
                },
                "monthly": {"regions": {"@@assign": ["us-east-1"]}, "rules": {"m": {}}},
            }
        }
    )
    policies = coverage.region_policies(content)
    assert policies["us-east-1"] == coverage.RegionPolicy(plans=("daily", "monthly"), copy_targets=(CENTRAL,))
    assert policies["eu-west-1"] == coverage.RegionPolicy(plans=("daily",), copy_targets=(CENTRAL,))


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "not JSON"), ("[]", "no 'plans' object"), ('{"plans": {"p": 1}}', "plans.p must be an object")],
)
def test_a_document_that_is_no_backup_policy_is_named(content: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        coverage.region_policies(content)


# ---------------------------------------------------------------------------------------------------------------
# Report, changes, notification


def report(jobs: list[coverage.Job]) -> dict[str, Any]:
    inputs = coverage.Inputs(
        accounts=[coverage.Account(B, "workload-b"), coverage.Account(A, "workload-a")],
        instances={A: {"us-east-1": CURRENT, "eu-west-1": CURRENT}, B: {"us-east-1": CURRENT, "eu-west-1": CURRENT}},
        policies={A: POLICY, B: POLICY},
        jobs=jobs,
        now=NOW,
    )
    return coverage.build_report(inputs, SCOPE).to_dict()


HEALTHY = [
    job(kind, state, hours, account=account, region=region, **extra)
    for account in (A, B)
    for region in ("us-east-1", "eu-west-1")
    for kind, state, hours, extra in (
        ("backup", "COMPLETED", 2, {}),
        ("copy", "COMPLETED", 1, {"destination_vault_arn": CENTRAL}),
    )
]


def test_the_report_has_every_cell_sorted_by_account_name_with_totals() -> None:
    document = report(HEALTHY[:4])
    assert [account["name"] for account in document["accounts"]] == ["workload-a", "workload-b"]
    assert document["totals"] == {"protected": 2, "at_risk": 0, "silent": 2, "cells": 4}
    assert set(document["accounts"][0]["cells"]) == {"us-east-1", "eu-west-1"}
    assert json.loads(json.dumps(document)) == document


def test_nothing_got_worse_when_states_stay_or_improve() -> None:
    before = report(HEALTHY[:4])
    assert coverage.worsened(before, report(HEALTHY)) == []
    assert coverage.worsened(report(HEALTHY), report(HEALTHY)) == []


def test_a_cell_that_becomes_silent_or_at_risk_got_worse() -> None:
    before = report(HEALTHY)
    failing = [*HEALTHY, job("copy", "FAILED", 0.5, account=B, destination_vault_arn=CENTRAL)]
    now = report([j for j in failing if not (j.account_id == A and j.region == "eu-west-1")])
    changes = coverage.worsened(before, now)
    assert {(c.name, c.region, c.before, c.now) for c in changes} == {
        ("workload-a", "eu-west-1", "protected", "silent"),
        ("workload-b", "us-east-1", "protected", "at_risk"),
    }
    subject, message = coverage.notification(changes, now, "s3://bucket/coverage/latest.html")
    assert subject == "orgbackup coverage: 2 accounts got worse"
    assert len(subject) < 100
    assert subject.isascii()
    assert "workload-a (333333333333) eu-west-1: Silent (was Protected)" in message
    assert "workload-b (444444444444) us-east-1: At risk (was Protected)" in message
    assert "Full report: s3://bucket/coverage/latest.html" in message


def test_without_a_previous_report_every_unprotected_cell_is_new() -> None:
    changes = coverage.worsened(None, report(HEALTHY[:4]))
    assert {(c.account_id, c.before) for c in changes} == {(B, None)}


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        ({}, "'accounts' must be a list"),
        ({"accounts": [{"cells": []}]}, r"accounts\[0\].cells must be an object"),
        ({"accounts": [{"account_id": A, "cells": {"us-east-1": {"state": "fine"}}}]}, "'fine' is no state"),
    ],
)
def test_an_unreadable_previous_report_is_named(previous: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        coverage.worsened(previous, report(HEALTHY))


# ---------------------------------------------------------------------------------------------------------------
# HTML


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str | None]] = []
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "td" and "data-state" in values:
            self.cells.append(values)
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            value = values.get(name) or ""
            if tag in ("link", "img", "script", "iframe") and value:
                self.external.append(value)


def test_the_page_is_self_contained_and_escapes_every_value() -> None:
    document = report(HEALTHY[:4])
    document["accounts"][0]["name"] = '<script>alert("x")</script>'
    document["accounts"][0]["cells"]["us-east-1"]["reason"] = "a < b & c"
    page = coverage_html.render(document)
    parser = Cells()
    parser.feed(page)
    assert parser.scripts == 0
    assert parser.external == []
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "a &lt; b &amp; c" in page
    assert [cell["data-state"] for cell in parser.cells] == ["protected", "protected", "silent", "silent"]
    # Each state is shown in words and a symbol, not only in colour
    for words in ("\u2714 Protected", "\u2716 Silent"):
        assert words in page


def test_the_member_vault_counts_as_present_when_a_completed_backup_wrote_to_it() -> None:
    written = job("backup", "COMPLETED", 2, vault_name="orgbackup-member")
    elsewhere = job("backup", "COMPLETED", 1, vault_name="another-vault")
    failed = job("backup", "FAILED", 0.5, vault_name="orgbackup-member")
    result = cell([written, elsewhere, failed, central_copy("COMPLETED", 1)])
    assert result.member_vault_written == NOW - timedelta(hours=2)
    assert result.to_dict()["member_vault_written"] == "2026-03-10T10:00:00Z"
    assert cell([elsewhere]).member_vault_written is None
