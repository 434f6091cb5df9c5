"""Helpers for tests/workflow: sample events from events/ with other IDs, and readers of what really happened
(the emulated accounts, the StackSet, the central vault policy, the SNS notifications, the execution history)."""

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from sample_events import read_event

from orgbackup_tools import emulation
from orgbackup_tools.simulation import Account, Observer, World, final_state

WORKLOADS = ("ou-ab12-11111111", "Workloads")
SANDBOX = ("ou-ab12-22222222", "Sandbox")
PROD = ("ou-ab12-33333333", "Prod")
SECURITY = ("ou-ab12-44444444", "Security")
REGIONS = ("us-east-1", "eu-west-1")
STATUS_KEYS = ("createManagedAccountStatus", "updateManagedAccountStatus")


def _status(event: dict[str, Any]) -> dict[str, Any]:
    details = event["detail"]["serviceEventDetails"]
    return next(details[key] for key in STATUS_KEYS if key in details)


def lifecycle_event(
    sample: str = "controltower/create-managed-account.json",
    *,
    account_id: str,
    name: str | None = None,
    ou: tuple[str, str] = WORKLOADS,
) -> dict[str, Any]:
    """A copy of a sample lifecycle event from events/ naming another account (and OU); nothing else changes."""
    event: dict[str, Any] = copy.deepcopy(read_event(sample))
    status = _status(event)
    status["account"] = {"accountId": account_id, "accountName": name or f"account-{account_id}"}
    status["organizationalUnit"] = {"organizationalUnitId": ou[0], "organizationalUnitName": ou[1]}
    event["id"] = f"{event['id'][:-12]}{account_id}"  # one event per account: a UUID ending in its ID
    return event


def sqs_record(event: dict[str, Any]) -> dict[str, Any]:
    """The event as one SQS record of a Pipes batch: a copy of the first record of events/workflow/pipe-batch.json
    with the event as its body and a message ID of its own."""
    record: dict[str, Any] = copy.deepcopy(read_event("workflow/pipe-batch.json")[0])
    record["body"] = json.dumps(event)
    record["messageId"] = f"{record['messageId'][:-12]}{event['id'][-12:]}"
    return record


def new_accounts(count: int) -> list[Account]:
    """``count`` new accounts in the Workloads OU (in scope): 700000000001, 700000000002, ..."""
    return [Account(f"7{index:011d}", f"new-{index:02d}", WORKLOADS[0]) for index in range(1, count + 1)]


# ---------------------------------------------------------------------------------------------------------------
# Reading what happened


# The states inside the WaitForBaseline Map: entered once per poll.
POLL_STATES = frozenset({"WaitForOperation", "DescribeOperation", "CountPoll", "OperationEnded", "OperationDone"})


def states_entered(history: list[dict[str, Any]]) -> list[str]:
    """The states the execution entered, in order (the polling loop's inner states left out)."""
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in history
        if event["type"].endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] not in POLL_STATES
    ]


def execution_end(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The history's last event: ExecutionSucceeded or ExecutionFailed, with its details."""
    return history[-1]


def run_state(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The workflow document at its last Task (Report or ReportFailure): resolution, baseline, failure, report."""
    return final_state(history)


def stackset_operations(world: World) -> list[dict[str, Any]]:
    """The member StackSet's operations, oldest first (Action, Status, OperationId)."""
    cfn = world.client("cloudformation")
    summaries = cfn.list_stack_set_operations(StackSetName=world.settings.member_stackset_name)["Summaries"]
    return sorted(summaries, key=lambda item: item["CreationTimestamp"])


def operation_accounts(world: World, operation_id: str) -> set[str]:
    cfn = world.client("cloudformation")
    results = cfn.list_stack_set_operation_results(
        StackSetName=world.settings.member_stackset_name, OperationId=operation_id
    )["Summaries"]
    return {result["Account"] for result in results}


@dataclass
class Holdings:
    """What one account really holds, read from the emulated organization and accounts."""

    stack_instances: dict[str, str]
    vaults: dict[str, str]
    in_central_vault_policy: bool
    backup_policies: list[str]


def holdings(world: World, account_id: str) -> Holdings:
    observer = Observer(world)
    return Holdings(
        stack_instances=observer.stack_instances().get(account_id, {}),
        vaults=observer.vaults(account_id),
        in_central_vault_policy=observer.in_central_policy(account_id, observer.central_policy()),
        backup_policies=observer.backup_policies(account_id),
    )


def central_policies(world: World) -> dict[str, dict[str, Any] | None]:
    """The central vault's access policy in each backup Region, as stored in the central account."""
    out: dict[str, dict[str, Any] | None] = {}
    for region in world.settings.backup_regions:
        text = emulation.vault_access_policy(
            world.settings.central_backup_account_id, region, world.settings.central_vault_name
        )
        out[region] = json.loads(text) if text else None
    return out


def allowed_accounts(policy: dict[str, Any] | None) -> set[str]:
    """Account IDs a central vault policy lets copy in by principal (the account form)."""
    found: set[str] = set()
    for statement in (policy or {}).get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        arns = principal.get("AWS", []) if isinstance(principal, dict) else []
        for arn in [arns] if isinstance(arns, str) else arns:
            match = re.fullmatch(r"arn:aws:iam::(\d{12}):root", arn)
            if match:
                found.add(match[1])
    return found


class Notifications:
    """The SNS notifications received since the last ``new()`` (read from the topic's emulated inbox)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seen = len(world.read_notifications())

    def new(self) -> list[dict[str, str]]:
        everything = self.world.read_notifications()
        fresh = everything[self.seen :]
        self.seen = len(everything)
        return fresh


def backup_policies(world: World) -> dict[str, tuple[list[str], str]]:
    """Each backup policy of the organization: the targets it is attached to, and its content."""
    org = world.client("organizations")
    out: dict[str, tuple[list[str], str]] = {}
    for policy in org.list_policies(Filter="BACKUP_POLICY")["Policies"]:
        targets = org.list_targets_for_policy(PolicyId=policy["Id"])["Targets"]
        content = org.describe_policy(PolicyId=policy["Id"])["Policy"]["Content"]
        out[policy["Name"]] = (sorted(target["TargetId"] for target in targets), content)
    return out
