"""The daily reconcile run, and the central vault policy outgrowing its account list."""

from workflow_helpers import (
    REGIONS,
    SECURITY,
    WORKLOADS,
    Notifications,
    allowed_accounts,
    central_policies,
    execution_end,
    holdings,
    operation_accounts,
    read_event,
    run_state,
    stackset_operations,
)

from orgbackup import vault_policy
from orgbackup_tools.simulation import build_report

CURRENT_EVERYWHERE = dict.fromkeys(REGIONS, "CURRENT")


def test_reconcile_onboards_exactly_the_in_scope_active_accounts_missing_a_baseline(make_world, aws_calls) -> None:
    # Given Workloads and Security in scope: 333333333333 already has a current baseline (an earlier StackSet
    # operation), 444444444444 (Prod, nested under Workloads) and 555555555555 (Workloads) have none, the central
    # backup account (Security) has its own baseline, 666666666666 (Sandbox) is out of scope, and the management
    # account is never onboarded
    world = make_world(overrides={"InScopeOuIds": f"{WORKLOADS[0]},{SECURITY[0]}"})
    cfn = world.client("cloudformation")
    cfn.create_stack_instances(
        StackSetName=world.settings.member_stackset_name, Accounts=["333333333333"], Regions=list(REGIONS)
    )
    (earlier,) = stackset_operations(world)
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When the daily schedule starts the reconcile run
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then one StackSet operation created the baseline of exactly the two accounts that lacked one
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    earlier_again, reconcile = stackset_operations(world)
    assert earlier_again == earlier
    assert reconcile["Action"] == "CREATE"
    assert operation_accounts(world, reconcile["OperationId"]) == {"444444444444", "555555555555"}
    assert aws_calls.count_since(mark, "UpdateStackInstances") == 0
    # And every in-scope active account is now protected, the already-current one included in the vault policy
    for account_id in ("333333333333", "444444444444", "555555555555"):
        held = holdings(world, account_id)
        assert held.stack_instances == CURRENT_EVERYWHERE, account_id
        assert held.in_central_vault_policy, account_id
        assert held.backup_policies == ["orgbackup-daily", "orgbackup-monthly"], account_id
    # And the central account, the management account and the account out of scope got nothing
    for account_id in ("222222222222", "666666666666", "111111111111"):
        assert holdings(world, account_id).stack_instances == {}, account_id
        assert holdings(world, account_id).backup_policies == [], account_id
        for policy in central_policies(world).values():
            assert account_id not in allowed_accounts(policy)
    # And the run says what it did with each account it considered
    resolution = run_state(history)["resolution"]
    assert resolution["mode"] == "reconcile"
    assert sorted(item["account_id"] for item in resolution["to_onboard"]) == ["444444444444", "555555555555"]
    # (the account already current is counted, not listed: a daily reconcile's state stays small; issue 14)
    assert resolution.get("skipped", []) == []
    assert resolution["baseline_current"] == 1
    assert "remaining" not in resolution
    report = build_report(world, [history])
    assert set(report["accounts"]) == {"333333333333", "444444444444", "555555555555"}
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 2 onboarded, 1 skipped"
    assert "(mode: reconcile)" in note["message"]
    assert "Baseline already current (no StackSet change): 1 account(s)." in note["message"]


def test_the_vault_policy_switches_to_org_paths_past_the_size_threshold(world, aws_calls, monkeypatch) -> None:
    # Given a size threshold that the account form fits with one account but not with three
    one = vault_policy.render_central_vault_policy(world.settings, ["333333333333"], REGIONS[0])
    three = vault_policy.render_central_vault_policy(
        world.settings, ["333333333333", "444444444444", "555555555555"], REGIONS[0]
    )
    assert one.size_bytes < three.size_bytes
    monkeypatch.setattr(vault_policy, "DEFAULT_THRESHOLD_BYTES", one.size_bytes)
    # And 333333333333 onboarded under it: the policy names the account
    world.process_events([read_event("controltower/create-managed-account.json")])
    for policy in central_policies(world).values():
        assert allowed_accounts(policy) == {"333333333333"}
    inbox = Notifications(world)

    # When two more accounts are onboarded
    history = world.execute({"mode": "manual", "account_ids": ["444444444444", "555555555555"]})

    # Then the policy in every Region allows copies by organization path of the in-scope OU, not by account
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert run_state(history)["vault_policy"]["mode"] == "org-paths"
    for region, policy in central_policies(world).items():
        assert policy is not None, region
        assert allowed_accounts(policy) == set()
        allow = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        assert allow == [
            {
                "Sid": vault_policy.SID_ALLOW_ORG_PATHS,
                "Effect": "Allow",
                "Principal": "*",
                "Action": "backup:CopyIntoBackupVault",
                "Resource": "*",
                "Condition": {
                    "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"o-ab12cd34ef/r-ab12/{WORKLOADS[0]}/*"]}
                },
            }
        ]
        # and keeps its deny statements, with the copy denied to the management account (it names no account else)
        assert {s["Sid"] for s in policy["Statement"] if s["Effect"] == "Deny"} == {
            vault_policy.SID_DENY_EXCLUDED,
            vault_policy.SID_DENY_DELETION,
            vault_policy.SID_DENY_POLICY_CHANGES,
        }
        (deny_copy,) = [s for s in policy["Statement"] if s["Sid"] == vault_policy.SID_DENY_EXCLUDED]
        assert deny_copy["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ["111111111111"]}}
    # And that covers the three accounts (Prod is nested under Workloads), not the Sandbox account
    for account_id in ("333333333333", "444444444444", "555555555555"):
        assert holdings(world, account_id).in_central_vault_policy, account_id
    assert not holdings(world, "666666666666").in_central_vault_policy
    (note,) = inbox.new()
    assert "3 accounts may copy in (org-paths)" in note["message"]


PROTECTED = ("333333333333", "444444444444", "555555555555")


def test_a_stackset_wide_update_in_progress_drops_no_account_from_the_vault_policy(world) -> None:
    # Given every in-scope account onboarded and named in the central vault policy
    world.execute({"mode": "manual", "account_ids": list(PROTECTED)})
    assert all(allowed_accounts(policy) == set(PROTECTED) for policy in central_policies(world).values())
    # And a rollout of a new member template running over all of them (every instance OUTDATED, detailed status RUNNING)
    world.faults.hold()
    world.client("cloudformation").update_stack_instances(
        StackSetName=world.settings.member_stackset_name,
        Accounts=list(PROTECTED),
        Regions=list(REGIONS),
    )

    # When the daily reconcile runs during the rollout
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then nothing is deployed again, and every account keeps their place in the policy in every Region
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    resolution = run_state(history)["resolution"]
    assert (resolution.get("skipped", []), resolution["baseline_in_progress"]) == ([], len(PROTECTED))  # counted
    assert all(allowed_accounts(policy) == set(PROTECTED) for policy in central_policies(world).values())
    world.faults.release()
