"""Issue 12, the pure parts of orgbackup.changes: which Regions an account loses, how removals are grouped into
StackSet operations, when the Resolve step sends a run through the Offboard branch, and what InspectOffboarding
makes of the removals."""

from typing import Any

import boto3
from botocore.stub import Stubber

from orgbackup.accounts import AccountOutcome, Resolution
from orgbackup.baseline import InstanceState
from orgbackup.changes import _groups, dropped_regions, inspect_offboarding, may_need_offboarding
from orgbackup.report import run_report
from orgbackup.settings import Settings

CURRENT = InstanceState("CURRENT", "SUCCEEDED")


def test_dropped_regions_are_those_outside_the_deployment() -> None:
    states = {
        "333333333333": {"us-east-1": CURRENT, "eu-west-1": CURRENT, "eu-central-1": CURRENT},
        "444444444444": {"us-east-1": CURRENT},
    }
    assert dropped_regions(states, ("us-east-1", "eu-west-1"), ["333333333333", "444444444444"]) == {
        "333333333333": ["eu-central-1"]
    }


def test_removals_with_the_same_regions_are_one_operation() -> None:
    removals = {
        "333333333333": ["us-east-1", "eu-west-1"],
        "555555555555": ["eu-west-1", "us-east-1"],
        "444444444444": ["eu-central-1"],
        "666666666666": [],
    }
    assert _groups(removals) == [
        (["333333333333", "555555555555"], ["eu-west-1", "us-east-1"]),
        (["444444444444"], ["eu-central-1"]),
    ]


def test_only_a_departing_account_with_instances_needs_the_offboard_branch() -> None:
    out = AccountOutcome("333333333333", "out-of-scope", "out of scope")
    current = AccountOutcome("555555555555", "baseline-current", "baseline already current")
    states = {"333333333333": {"us-east-1": CURRENT}, "555555555555": {"us-east-1": CURRENT}}
    assert may_need_offboarding(Resolution(mode="events", skipped=[out]), states)
    assert not may_need_offboarding(Resolution(mode="events", skipped=[out]), {})
    assert not may_need_offboarding(Resolution(mode="events", skipped=[current]), states)
    # An account Organizations no longer knows is invalid, and offboarded when it still holds instances
    gone = AccountOutcome("333333333333", "unknown-account", "unknown account")
    assert may_need_offboarding(Resolution(mode="events", invalid=[gone]), states)
    # Reconcile always looks for drift
    assert may_need_offboarding(Resolution(mode="reconcile"), {})


# ---------------------------------------------------------------------------------------------------------------
# InspectOffboarding: what came of the removals (the StackSets calls pinned with botocore's Stubber)

STACKSET = "orgbackup-member"
OPERATION = "run-9-offboard0"
INSTANCE_LEFT = {"Account": "111111111111", "Region": "eu-central-1", "Status": "CURRENT", "StatusReason": ""}


def _settings() -> Settings:
    return Settings(
        organization_id="o-a1b2c3d4e5",
        management_account_id="999999999999",
        central_backup_account_id="222222222222",
        backup_regions=("us-east-1", "eu-west-1"),
        member_vault_name="orgbackup-member",
        central_vault_name="orgbackup-central",
        backup_role_name="OrgBackupServiceRole",
        member_stackset_name=STACKSET,
        central_vault_policy_role_name="OrgBackupVaultPolicyRole",
        in_scope_ou_ids=("ou-ab12-11111111",),
    )


def _inspect(regions_dropped: dict[str, list[str]], results: list[dict[str, str]], left: list[dict[str, str]]) -> Any:
    """inspect_offboarding of a run that removed only ``regions_dropped``; the operation reported ``results`` and
    the StackSet lists ``left`` afterwards."""
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    state = {
        "execution": "run-9",
        "offboarding": {
            "departures": [],
            "regions_dropped": regions_dropped,
            "operations": [OPERATION],
            "retain_stacks": True,
            "wait": True,
        },
    }
    with Stubber(cfn) as stub:
        stub.add_response(
            "list_stack_set_operation_results",
            {"Summaries": results},
            {"StackSetName": STACKSET, "OperationId": OPERATION},
        )
        for account in sorted(regions_dropped):
            stub.add_response(
                "list_stack_instances",
                {"Summaries": [item for item in left if item["Account"] == account]},
                {"StackSetName": STACKSET, "StackInstanceAccount": account},
            )
        inspected = inspect_offboarding(state, _settings(), cfn)
        stub.assert_no_pending_responses()
    return inspected["offboarding"]


def test_a_region_no_longer_backed_up_whose_instance_remains_is_a_failed_offboarding() -> None:
    # Given a reconcile that removed 111111111111's instance in eu-central-1, a Region no longer backed up, and an
    # operation that failed there, the instance still listed
    failure = {"Account": "111111111111", "Region": "eu-central-1", "Status": "FAILED", "StatusReason": "denied"}

    # When InspectOffboarding reads what came of it
    offboarding = _inspect({"111111111111": ["eu-central-1"]}, [failure], [INSTANCE_LEFT])

    # Then the Region is a failed offboarding with the operation's reason, and is not reported as removed
    assert offboarding["failed"] == {"111111111111": ["eu-central-1 (no longer backed up): denied"]}
    assert offboarding["regions_dropped"] == {}
    assert offboarding["offboarded"] == {}
    report = run_report({"execution": "run-9", "offboarding": offboarding})
    assert report["outcome"] == "partial"
    assert report["offboarding_failed"] == 1
    assert "111111111111: eu-central-1 (no longer backed up): denied" in report["message"]
    assert "Regions no longer backed up (stacks retained)" not in report["message"]


def test_a_region_no_longer_backed_up_whose_instance_is_gone_is_reported_removed() -> None:
    # Given a reconcile that removed 111111111111's instances in two Regions no longer backed up: the operation
    # failed in one of them (the instance is still there) and succeeded in the other
    results = [
        {"Account": "111111111111", "Region": "eu-central-1", "Status": "FAILED", "StatusReason": "denied"},
        {"Account": "111111111111", "Region": "eu-north-1", "Status": "SUCCEEDED", "StatusReason": ""},
    ]

    # When InspectOffboarding reads what came of it
    offboarding = _inspect({"111111111111": ["eu-central-1", "eu-north-1"]}, results, [INSTANCE_LEFT])

    # Then only eu-north-1 is reported removed, eu-central-1 failed
    assert offboarding["regions_dropped"] == {"111111111111": ["eu-north-1"]}
    assert offboarding["failed"] == {"111111111111": ["eu-central-1 (no longer backed up): denied"]}
    message = run_report({"execution": "run-9", "offboarding": offboarding})["message"]
    assert (
        "Stack instances removed from Regions no longer backed up (stacks retained) (1):\n  - 111111111111: "
        "eu-north-1\n" in message
    )
