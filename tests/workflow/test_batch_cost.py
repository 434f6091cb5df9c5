"""Issue 14, part 5: the work of a batch does not grow with the organization. Counts of AWS calls (not times): a
batch of one new account makes the same calls, operation by operation, before and after the organization grew,
once the central vault policy grants by organization path (what a large organization holds)."""

from collections import Counter

from workflow_helpers import (
    central_policies,
    execution_end,
    holdings,
    lifecycle_event,
    new_accounts,
    read_event,
    run_state,
    sqs_record,
)

from orgbackup import vault_policy
from orgbackup_tools.simulation import Account

# What reads the whole in-scope organization (or every target of a policy): a batch must make none of them.
WHOLE_ORGANIZATION_READS = frozenset(
    {"ListAccounts", "ListAccountsForParent", "ListOrganizationalUnitsForParent", "ListTargetsForPolicy"}
)


def onboard(world, account: Account) -> list:
    record = sqs_record(
        lifecycle_event("controltower/create-managed-account.json", account_id=account.account_id, name=account.name)
    )
    history = world.execute([record])
    assert execution_end(history)["type"] == "ExecutionSucceeded", run_state(history).get("failure")
    return history


def test_a_batch_of_one_costs_the_same_in_a_larger_organization(make_world, aws_calls, monkeypatch) -> None:
    # Given an organization whose central vault policy grants by organization path (the form every organization
    # past a few hundred accounts has; here forced by a 1-byte threshold), written by a first onboarding
    first, second, third = new_accounts(3)
    world = make_world(extra_accounts=[first])
    monkeypatch.setattr(vault_policy, "DEFAULT_THRESHOLD_BYTES", 1)
    onboard(world, first)
    assert {policy["Statement"][0]["Sid"] for policy in central_policies(world).values()} == {
        vault_policy.SID_ALLOW_ORG_PATHS
    }

    # When one new account is onboarded
    world.add_account(second)
    mark = aws_calls.mark()
    history = onboard(world, second)
    small = Counter(aws_calls.calls[mark:])
    # And, after 60 more accounts joined the in-scope OU (three pages of ListAccountsForParent), another
    for index in range(60):
        world.add_account(Account(f"6{index:011d}", f"grown-{index:02d}", second.parent_id))
    world.add_account(third)
    mark = aws_calls.mark()
    onboard(world, third)
    large = Counter(aws_calls.calls[mark:])

    # Then both batches made the same calls, and none that reads the whole organization
    assert large == small
    assert not {operation for _, operation in small} & WHOLE_ORGANIZATION_READS
    # And each account is protected: in the central vault policy (by its OU's path), with its backup policies
    for account in (second, third):
        assert holdings(world, account.account_id).in_central_vault_policy, account.account_id
    assert run_state(history)["vault_policy"]["mode"] == "org-paths"
    assert run_state(history)["backup_policies"]["attached_count"] == 2


def test_a_reconcile_of_the_whole_organization_looks_up_no_account_parent(make_world, aws_calls) -> None:
    # Given the whole organization in scope and no account with a baseline (a first deploy)
    world = make_world(extra_accounts=new_accounts(1), overrides={"InScopeOuIds": ""})

    # When the reconcile runs
    mark = aws_calls.mark()
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then it onboards every account without asking Organizations for any account's parent: the member StackSet is
    # self-managed (its instances are created for account IDs), so nothing reads a parent
    assert execution_end(history)["type"] == "ExecutionSucceeded", run_state(history).get("failure")
    assert len(run_state(history)["resolution"].get("to_onboard", [])) == 5  # the Sandbox account too
    calls = Counter(operation for _, operation in aws_calls.calls[mark:])
    assert calls["ListParents"] == 0, calls
    assert calls["ListAccounts"] > 0
