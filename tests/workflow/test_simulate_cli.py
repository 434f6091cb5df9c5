"""`orgbackup simulate --json`: the local run's report, in the contract issue 3 gives it:

{"executions": [{"name", "status"}], "accounts": {"<id>": {"outcome": "onboarded|skipped|failed|invalid", "reason",
(issue 12 adds "offboarded" and "unchanged")
"stack_instances": {"<region>": "<status>"}, "vaults": {"<region>": "<name>"}, "in_central_vault_policy": bool,
"backup_policies": ["<name>"]}}, "stackset_operations": int, "notifications": [{"subject", "message"}]}
"""

import json
from pathlib import Path
from typing import Any

import pytest
from sample_events import EVENTS
from workflow_helpers import REGIONS, lifecycle_event

from orgbackup_tools import cli

ACCOUNT_KEYS = {"outcome", "reason", "stack_instances", "vaults", "in_central_vault_policy", "backup_policies"}
OUTCOMES = {"onboarded", "skipped", "failed", "invalid", "offboarded", "unchanged"}
EXECUTION_STATUSES = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
POLICIES = ["orgbackup-daily", "orgbackup-monthly"]


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """Run `orgbackup simulate ARGS --json`; stdout must be the JSON report and nothing else."""
    capsys.readouterr()
    assert cli.main(["simulate", *args, "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert_contract(report)
    return report


def _strings(mapping: object) -> bool:
    return isinstance(mapping, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())


def assert_contract(report: dict[str, Any]) -> None:
    assert set(report) == {"executions", "accounts", "stackset_operations", "notifications"}
    assert isinstance(report["executions"], list)
    for execution in report["executions"]:
        assert set(execution) == {"name", "status"}
        assert isinstance(execution["name"], str)
        assert execution["status"] in EXECUTION_STATUSES
    assert isinstance(report["accounts"], dict)
    for account_id, item in report["accounts"].items():
        assert isinstance(account_id, str)
        assert set(item) == ACCOUNT_KEYS, account_id
        assert item["outcome"] in OUTCOMES
        assert isinstance(item["reason"], str)
        assert item["reason"]
        assert _strings(item["stack_instances"])
        assert _strings(item["vaults"])
        assert isinstance(item["in_central_vault_policy"], bool)
        assert isinstance(item["backup_policies"], list)
        assert all(isinstance(name, str) for name in item["backup_policies"])
    assert type(report["stackset_operations"]) is int
    assert isinstance(report["notifications"], list)
    for note in report["notifications"]:
        assert set(note) == {"subject", "message"}
        assert isinstance(note["subject"], str)
        assert isinstance(note["message"], str)


def assert_onboarded(item: dict[str, Any]) -> None:
    assert item["outcome"] == "onboarded"
    assert item["stack_instances"] == dict.fromkeys(REGIONS, "CURRENT")
    assert item["vaults"] == dict.fromkeys(REGIONS, "orgbackup-member")
    assert item["in_central_vault_policy"] is True
    assert item["backup_policies"] == POLICIES


def test_an_event_for_a_new_account_in_a_new_ou_creates_it_in_scope_and_onboards_it(capsys, tmp_path: Path) -> None:
    # Given a lifecycle event for an account and an OU the default emulated organization does not have
    event = lifecycle_event(account_id="888888888888", name="analytics-a", ou=("ou-ab12-55555555", "Analytics"))
    path = tmp_path / "analytics.json"
    path.write_text(json.dumps(event), encoding="utf-8")

    # When the local run is given that event
    report = simulate(capsys, "--event", str(path))

    # Then the account was created in that OU, in scope, and onboarded by one StackSet operation
    assert [e["status"] for e in report["executions"]] == ["SUCCEEDED"]
    assert set(report["accounts"]) == {"888888888888"}
    assert_onboarded(report["accounts"]["888888888888"])
    assert report["stackset_operations"] == 1
    (note,) = report["notifications"]
    assert note["subject"] == "orgbackup: 1 onboarded"
    assert "888888888888 (analytics-a)" in note["message"]


def test_an_event_with_an_invalid_account_id_is_reported_invalid_and_not_repaired(capsys) -> None:
    # When the local run is given an event whose account ID has 11 digits
    report = simulate(capsys, "--event", str(EVENTS / "controltower" / "malformed-account-id.json"))

    # Then the one record is reported invalid, naming the field and the value, and nothing was created for it
    assert [e["status"] for e in report["executions"]] == ["SUCCEEDED"]
    (item,) = report["accounts"].values()
    assert "33333333333" not in report["accounts"]
    assert item["outcome"] == "invalid"
    assert item["reason"] == (
        "detail.serviceEventDetails.createManagedAccountStatus.account.accountId: '33333333333' is not a 12-digit "
        "account ID"
    )
    assert (item["stack_instances"], item["vaults"], item["in_central_vault_policy"]) == ({}, {}, False)
    assert report["stackset_operations"] == 0
    (note,) = report["notifications"]
    assert note["subject"] == "orgbackup: 0 onboarded, 1 invalid"


def test_an_event_that_is_not_an_onboarding_trigger_changes_nothing(capsys) -> None:
    # When the local run is given Control Tower's SetupLandingZone event
    report = simulate(capsys, "--event", str(EVENTS / "controltower" / "other-event-setup-landing-zone.json"))

    # Then the rule does not match it: no execution, no account changed, no StackSet operation, no notification
    assert report == {"executions": [], "accounts": {}, "stackset_operations": 0, "notifications": []}


def test_a_burst_of_three_accounts_is_onboarded_in_one_operation(capsys) -> None:
    # When the local run simulates three new accounts at once
    report = simulate(capsys, "--accounts", "3")

    # Then one execution onboarded all three with one StackSet operation
    assert [e["status"] for e in report["executions"]] == ["SUCCEEDED"]
    assert set(report["accounts"]) == {"700000000001", "700000000002", "700000000003"}
    for item in report["accounts"].values():
        assert_onboarded(item)
    assert report["stackset_operations"] == 1
    (note,) = report["notifications"]
    assert note["subject"] == "orgbackup: 3 onboarded"


def test_events_given_several_times_run_in_order_and_an_account_moved_out_is_offboarded(capsys) -> None:
    # When the account is created, then moved out of scope (the emulated organization moves it first)
    report = simulate(
        capsys,
        "--event",
        str(EVENTS / "controltower" / "create-managed-account.json"),
        "--event",
        str(EVENTS / "organizations" / "move-account-out-of-scope.json"),
    )
    # Then two executions ran, one after the other, and the report describes the organization after the last one
    assert [execution["status"] for execution in report["executions"]] == ["SUCCEEDED", "SUCCEEDED"]
    item = report["accounts"]["333333333333"]
    assert item["outcome"] == "offboarded"
    assert item["stack_instances"] == {}
    assert item["vaults"] == dict.fromkeys(REGIONS, "orgbackup-member")  # the stacks were retained
    assert item["in_central_vault_policy"] is False
    assert item["backup_policies"] == []
    assert "kept: its stacks" in item["reason"]
    assert report["stackset_operations"] == 2
    assert [note["subject"] for note in report["notifications"]] == [
        "orgbackup: 1 onboarded",
        "orgbackup: 0 onboarded, 1 offboarded",
    ]


def test_a_move_of_an_account_that_holds_nothing_is_unchanged(capsys) -> None:
    report = simulate(capsys, "--event", str(EVENTS / "organizations" / "move-account-out-of-scope.json"))
    assert report["accounts"]["333333333333"]["outcome"] == "unchanged"
    assert report["stackset_operations"] == 0


def test_an_unreadable_second_event_exits_2_before_anything_runs(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    code = cli.main(
        ["simulate", "--event", str(EVENTS / "controltower" / "create-managed-account.json"), "--event", str(missing)]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert f"{missing}: cannot read the file" in captured.err


def test_an_organizations_event_aws_would_have_refused_exits_2_naming_the_file_and_field(capsys, tmp_path) -> None:
    # Given a MoveAccount event into an OU the organization does not have
    event = json.loads((EVENTS / "organizations" / "move-account-out-of-scope.json").read_text(encoding="utf-8"))
    event["detail"]["requestParameters"]["destinationParentId"] = "ou-ab12-99999999"
    path = tmp_path / "move-nowhere.json"
    path.write_text(json.dumps(event), encoding="utf-8")

    # When the local run is given it
    code = cli.main(["simulate", "--event", str(path), "--json"])

    # Then it exits 2 with the file and the field named, and prints no report
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == (
        f"orgbackup simulate: {path}: detail.requestParameters.destinationParentId: must name a root or OU of the "
        "emulated organization (AWS would have refused the move), got string 'ou-ab12-99999999'\n"
    )
