"""The copy topology through the real deployment: with a disaster-recovery Region, the workflow puts the member
baseline there too (the vault the DR copies land in), and the policies in force copy each Region's backups to the
central vault of that Region and to the account's own vault in the DR Region, one hop per copy."""

import json

from workflow_helpers import (
    REGIONS,
    allowed_accounts,
    backup_policies,
    central_policies,
    execution_end,
    holdings,
    read_event,
)

DR_REGION = "eu-central-1"


def test_a_dr_region_gets_the_member_baseline_and_the_policies_copy_there_one_hop_at_a_time(make_world) -> None:
    # Given a deployment with a disaster-recovery Region outside the backup Regions
    world = make_world(overrides={"DisasterRecoveryRegion": DR_REGION})
    account_id = "333333333333"

    # When Control Tower reports a new account
    (history,) = world.process_events([read_event("controltower/create-managed-account.json")])

    # Then the account is onboarded with its baseline in every backup Region and in the DR Region
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    held = holdings(world, account_id)
    assert held.stack_instances == dict.fromkeys((*REGIONS, DR_REGION), "CURRENT")
    assert held.vaults == dict.fromkeys((*REGIONS, DR_REGION), world.settings.member_vault_name)
    assert held.backup_policies == ["orgbackup-daily", "orgbackup-monthly"]
    # And the policies in force back up each backup Region with its own plan, copying to the central vault of
    # that Region (cross-account) and to the account's vault in the DR Region (same account), never both at once
    central = world.settings.central_backup_account_id
    for name, (targets, content) in backup_policies(world).items():
        assert account_id in targets, name
        plans = json.loads(content)["plans"]
        assert sorted(region for plan in plans.values() for region in plan["regions"]["@@assign"]) == sorted(REGIONS)
        for plan in plans.values():
            (region,) = plan["regions"]["@@assign"]
            (rule,) = plan["rules"].values()
            assert sorted(rule["copy_actions"]) == sorted(
                [
                    f"arn:aws:backup:{region}:{central}:backup-vault:{world.settings.central_vault_name}",
                    f"arn:aws:backup:{DR_REGION}:$account:backup-vault:{world.settings.member_vault_name}",
                ]
            )


def test_an_account_without_its_dr_vault_yet_keeps_its_central_copies_and_the_reconcile_adds_the_vault(
    make_world,
) -> None:
    # Given a DR Region turned on after an account was onboarded: the account has no instance there yet
    world = make_world(overrides={"DisasterRecoveryRegion": DR_REGION})
    first = "333333333333"
    world.process_events([read_event("controltower/create-managed-account.json")])
    cfn = world.client("cloudformation")
    cfn.delete_stack_instances(
        StackSetName=world.settings.member_stackset_name, Accounts=[first], Regions=[DR_REGION], RetainStacks=False
    )
    assert DR_REGION not in holdings(world, first).stack_instances

    # When another account is onboarded, which rewrites the central vault policies from the source of truth
    world.process_events([read_event("controltower/update-managed-account.json")])

    # Then the first account still may copy into the central vault of every backup Region (its copies come from
    # the backup Regions only) ...
    for region, policy in central_policies(world).items():
        assert first in allowed_accounts(policy), f"{first} dropped from the central vault policy in {region}"
    # ... and the daily reconcile gives it the DR Region's baseline
    world.execute(read_event("workflow/reconcile.json"))
    held = holdings(world, first)
    assert held.stack_instances == dict.fromkeys((*REGIONS, DR_REGION), "CURRENT")
    assert held.vaults[DR_REGION] == world.settings.member_vault_name
