"""Removing the product, as the README's "Remove it" says, in the emulated organization (security review, issue 10,
finding 5): the member stack instances go, then the central StackSet's instances (what `sam delete` does when it
deletes the CentralStackSet resource). An empty central vault goes with its stack even though the workflow has
written its access policy; a vault that still holds recovery points is refused by AWS Backup, and its stack
instance stays, with the vault, its policy and the retained key. The emulation deletes stacks as the StackSet
execution role and checks the vault access policy and the recovery points as AWS does
(``emulation.backup_vault_deletion``, DeleteStackInstances in ``emulation.stackset_operations``)."""

from collections.abc import Iterator
from typing import Any

import pytest
from moto.backup.models import backup_backends
from moto.kms.models import kms_backends

from orgbackup_tools import emulation, simulation

MEMBER = "333333333333"
CENTRAL = simulation.CENTRAL_ACCOUNT


@pytest.fixture
def world() -> Iterator[simulation.World]:
    with simulation.World.emulate() as running:
        # Given an onboarded member: the workflow wrote the central vault's access policy in every Region
        running.execute({"mode": "manual", "account_ids": [MEMBER]})
        yield running


def regions(world: simulation.World) -> list[str]:
    return list(world.spec.regions)


def vault_exists(account: str, region: str, name: str) -> bool:
    return name in backup_backends[account][region].vaults


# README "Remove it", step 1: the member instances' removal goes on past an instance whose vault AWS Backup refuses
# to delete. Without preferences AWS deploys one account at a time, tolerates no failure and runs Regions
# sequentially, so the first refusal would cancel everything after it (StackSetOperationPreferences,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html).
README_PREFERENCES = {
    "RegionConcurrencyType": "PARALLEL",
    "FailureTolerancePercentage": 100,
    "MaxConcurrentPercentage": 100,
}
README_PREFERENCES_CLI = (
    "--operation-preferences RegionConcurrencyType=PARALLEL,FailureTolerancePercentage=100,MaxConcurrentPercentage=100"
)


def delete_instances(world: simulation.World, logical_id: str, accounts: list[str]) -> list[dict[str, Any]]:
    """Step 1 (the member StackSet) with the README's command; step 2 (the central StackSet) as `sam delete` does
    it, with the resource's OperationPreferences ("The user-specified preferences for how CloudFormation performs
    a StackSet operation": the resource reference does not single out the deletion of its instances)."""
    cfn = world.client("cloudformation")
    name = world.resources[logical_id]["Ref"]
    if logical_id == "MemberStackSet":
        preferences: dict[str, Any] = README_PREFERENCES
    else:
        preferences = world.template["Resources"][logical_id]["Properties"].get("OperationPreferences", {})
    operation = cfn.delete_stack_instances(
        StackSetName=name,
        Accounts=accounts,
        Regions=regions(world),
        RetainStacks=False,
        OperationPreferences=preferences,
    )
    results: list[dict[str, Any]] = cfn.list_stack_set_operation_results(
        StackSetName=name, OperationId=operation["OperationId"]
    )["Summaries"]
    return results


def test_removal_works_as_the_readme_says(world) -> None:
    central_vault = world.settings.central_vault_name
    for region in regions(world):
        assert emulation.vault_access_policy(CENTRAL, region, central_vault)
    # When the member stack instances are deleted (README step 1)
    results = delete_instances(world, "MemberStackSet", [MEMBER])
    # Then they all go, with the member's (empty) vaults
    assert {result["Status"] for result in results} == {"SUCCEEDED"}
    for region in regions(world):
        assert not vault_exists(MEMBER, region, world.settings.member_vault_name)
    # When the central StackSet's instances are deleted (README step 2: `sam delete` deletes the CentralStackSet)
    results = delete_instances(world, "CentralStackSet", [CENTRAL])
    # Then the empty central vaults go too, although their access policy is in place ...
    assert {result["Status"] for result in results} == {"SUCCEEDED"}, results
    for region in regions(world):
        assert not vault_exists(CENTRAL, region, central_vault)
        # ... and the vault keys are retained (README step 3)
        keys = kms_backends[CENTRAL][region].keys.values()
        assert any(key.key_state == "Enabled" and "central backup vault" in key.description for key in keys)
    summaries = world.client("cloudformation").list_stack_instances(
        StackSetName=world.resources["CentralStackSet"]["Ref"]
    )["Summaries"]
    assert summaries == []


def test_a_central_vault_with_recovery_points_is_kept_with_its_stack_instance(world) -> None:
    central_vault = world.settings.central_vault_name
    first, *others = regions(world)
    # Given the central vault of the first Region holds a recovery point
    emulation.hold_recovery_points(CENTRAL, first, central_vault)
    policy = emulation.vault_access_policy(CENTRAL, first, central_vault)
    # When the central StackSet's instances are deleted
    results = {result["Region"]: result for result in delete_instances(world, "CentralStackSet", [CENTRAL])}
    # Then AWS Backup refuses that vault: its instance fails, saying why, and the vault keeps its policy
    assert results[first]["Status"] == "FAILED"
    assert "contains 1 recovery points" in results[first]["StatusReason"]
    assert vault_exists(CENTRAL, first, central_vault)
    assert emulation.vault_access_policy(CENTRAL, first, central_vault) == policy
    summaries = world.client("cloudformation").list_stack_instances(
        StackSetName=world.resources["CentralStackSet"]["Ref"]
    )["Summaries"]
    assert [(s["Account"], s["Region"]) for s in summaries] == [(CENTRAL, first)]
    # And the empty vaults of the other Regions go
    for region in others:
        assert results[region]["Status"] == "SUCCEEDED"
        assert not vault_exists(CENTRAL, region, central_vault)


def test_a_member_vault_with_recovery_points_keeps_its_instance_and_the_others_go(world) -> None:
    member_vault = world.settings.member_vault_name
    first, *others = regions(world)
    # Given the member's vault in the first Region holds a recovery point
    emulation.hold_recovery_points(MEMBER, first, member_vault)
    # When the member instances are deleted with the README's command
    results = {result["Region"]: result for result in delete_instances(world, "MemberStackSet", [MEMBER])}
    # Then that instance fails, naming the vault, and stays; the removal goes on in the other Regions
    assert results[first]["Status"] == "FAILED"
    assert "contains 1 recovery points" in results[first]["StatusReason"]
    assert vault_exists(MEMBER, first, member_vault)
    for region in others:
        assert results[region]["Status"] == "SUCCEEDED"
        assert not vault_exists(MEMBER, region, member_vault)


def test_the_readme_removal_command_carries_those_preferences() -> None:
    readme = (simulation.ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", "")
    (command,) = [line for line in readme.splitlines() if "delete-stack-instances" in line and "$STACKSET" in line]
    assert README_PREFERENCES_CLI in command


def test_the_central_policy_before_the_review_blocked_even_an_empty_vault(world) -> None:
    # Given the deny the central vault policy had before (DeleteBackupVault denied to every principal)
    central_vault = world.settings.central_vault_name
    first = regions(world)[0]
    vault = backup_backends[CENTRAL][first].vaults[central_vault]
    vault.access_policy = (
        '{"Version":"2012-10-17","Statement":[{"Sid":"DenyRecoveryPointDeletion","Effect":"Deny","Principal":"*",'
        '"Action":["backup:DeleteBackupVault","backup:DeleteRecoveryPoint"],"Resource":"*"}]}'
    )
    # When the central StackSet's instances are deleted
    results = {result["Region"]: result for result in delete_instances(world, "CentralStackSet", [CENTRAL])}
    # Then the execution role is refused by the vault policy: the removal the README described could not work
    assert results[first]["Status"] == "FAILED"
    assert "AccessDeniedException" in results[first]["StatusReason"]
    assert "AWSControlTowerExecution" in results[first]["StatusReason"]
    assert vault_exists(CENTRAL, first, central_vault)
