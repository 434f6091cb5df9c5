"""Helpers for the scale, fault and input-corpus tests: many executions at once, Wait states held open, the
state machine's own retry intervals made instant, the corpus of bad inputs as SQS records, and readers of what
a run changed (StackSet operations per account, stack instances, central vault policy, backup policy targets)."""

import copy
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from sample_events import corpus_event
from workflow_helpers import (
    REGIONS,
    allowed_accounts,
    backup_policies,
    central_policies,
    holdings,
    read_event,
    stackset_operations,
)

from orgbackup_tools.simulation import World

UNIT_CORPUS = Path(__file__).resolve().parents[1] / "unit" / "data" / "lifecycle_corpus.json"
WORKFLOW_CORPUS = Path(__file__).resolve().parent / "data" / "workflow_corpus.json"
DEFAULT_EVENT = "controltower/create-managed-account.json"
POLICIES = ["orgbackup-daily", "orgbackup-monthly"]

# Every call by which the functions change the organization, the StackSet or the central vault.
MUTATING_CALLS = (
    "CreateStackInstances",
    "UpdateStackInstances",
    "DeleteStackInstances",
    "PutBackupVaultAccessPolicy",
    "DeleteBackupVaultAccessPolicy",
    "CreatePolicy",
    "UpdatePolicy",
    "DeletePolicy",
    "AttachPolicy",
    "DetachPolicy",
)


# ---------------------------------------------------------------------------------------------------------------
# Running many executions


def wait_all(world: World, arns: list[str], timeout: float = 300) -> list[str]:
    """Wait until none of the executions runs (one listing per poll, not one call per execution); their statuses."""
    sfn = world.client("stepfunctions")
    wanted = set(arns)
    deadline = time.monotonic() + timeout
    while True:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=world.state_machine_arn, statusFilter="RUNNING"
        )
        running = {item["executionArn"] for page in pages for item in page["executions"]}
        if not running & wanted:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(running & wanted)} executions still running after {timeout} s")
        time.sleep(0.25)  # each listing costs the executions' threads some of the interpreter's time
    return [world.wait(arn)["status"] for arn in arns]  # (each ended: records its status in world.executions)


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached after {timeout} s")
        time.sleep(0.02)


@dataclass
class WaitGate:
    """Wait states that stay in their wait until ``open()``: an execution parked in WaitForBaseline for as long as
    the test needs (the emulation's waits are otherwise instant, and 120 polls pass in a few seconds)."""

    opened: threading.Event = field(default_factory=threading.Event)
    arrivals: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arrive(self) -> None:
        with self._lock:
            self.arrivals += 1

    def open(self) -> None:
        self.opened.set()


@contextmanager
def gated_waits(timeout: float = 120) -> Iterator[WaitGate]:
    """Inside the block, every Wait state (still recorded in ``world.waits``) blocks until the gate opens."""
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    previous = WaitFunction._wait_interval  # the emulation's instant wait, which records the seconds
    gate = WaitGate()

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        previous(self, env, wait_seconds)
        gate.arrive()
        gate.opened.wait(timeout)

    try:
        with mock.patch.object(WaitFunction, "_wait_interval", wait_interval):
            yield gate
    finally:
        gate.open()


@contextmanager
def instant_task_retries() -> Iterator[list[float]]:
    """The state machine's Retry intervals (IntervalSeconds, BackoffRate, jitter) are AWS's time: recorded, not
    slept (moto's interpreter sleeps them for real). Yields the intervals."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    intervals: list[float] = []

    class Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            intervals.append(seconds)

    with mock.patch.object(retrier_decl, "time", Clock):
        yield intervals


# ---------------------------------------------------------------------------------------------------------------
# What the organization holds, and what a run changed


def operations_per_account(world: World) -> Counter[str]:
    """How many StackSet operations of the member StackSet included each account."""
    cfn = world.client("cloudformation")
    counts: Counter[str] = Counter()
    for operation in stackset_operations(world):
        results = cfn.list_stack_set_operation_results(
            StackSetName=world.settings.member_stackset_name, OperationId=operation["OperationId"]
        )["Summaries"]
        counts.update({result["Account"] for result in results})
    return counts


def instance_pairs(world: World) -> Counter[tuple[str, str, str]]:
    """(account, Region, status) of every stack instance of the member StackSet, counted: a duplicate shows as 2."""
    cfn = world.client("cloudformation")
    summaries = cfn.list_stack_instances(StackSetName=world.settings.member_stackset_name)["Summaries"]
    return Counter((item["Account"], item["Region"], item["Status"]) for item in summaries)


def protection_gaps(world: World, account_id: str) -> list[str]:
    """What the account lacks to be protected (empty: protected): its baseline CURRENT and its vault in every
    backup Region, a place in the central vault policy in every Region, the backup policies in force."""
    held = holdings(world, account_id)
    gaps = []
    if held.stack_instances != dict.fromkeys(REGIONS, "CURRENT"):
        gaps.append(f"stack instances {held.stack_instances}")
    if held.vaults != dict.fromkeys(REGIONS, world.settings.member_vault_name):
        gaps.append(f"vaults {held.vaults}")
    gaps += [
        f"not in the central vault policy in {region}"
        for region, policy in central_policies(world).items()
        if account_id not in allowed_accounts(policy)
    ]
    if held.backup_policies != POLICIES:
        gaps.append(f"backup policies {held.backup_policies}")
    return gaps


def snapshot(world: World) -> dict[str, Any]:
    """What a run could change: the StackSet's operations and instances, the central vault policy in every Region
    and the backup policies with their targets."""
    return {
        "operations": [(item["OperationId"], item["Status"]) for item in stackset_operations(world)],
        "instances": instance_pairs(world),
        "central_policies": central_policies(world),
        "backup_policies": backup_policies(world),
    }


def mutations_since(calls: Any, mark: int) -> dict[str, int]:
    """The mutating calls the functions made since ``mark``, by operation (empty: the run changed nothing)."""
    counts = Counter(name for _, name in calls.calls[mark:] if name in MUTATING_CALLS)
    return dict(counts)


# ---------------------------------------------------------------------------------------------------------------
# The corpus of bad and edge-case inputs
#
# Rows use the format of tests/unit/data/lifecycle_corpus.json (read by tests/unit/test_workflow_input.py, whose
# build_record applies the same edits): a sample from events/ ("event", default create-managed-account.json)
# edited by "set" and "delete" (dotted paths) and "pad_bytes", or a raw "body" / "body_repeat", or a whole
# "record"; "record_set" / "record_delete" edit the SQS record itself. The row's "id" is the record's messageId.


def load_unit_corpus() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(UNIT_CORPUS.read_text(encoding="utf-8"))
    return rows


def load_workflow_corpus() -> dict[str, list[dict[str, Any]]]:
    corpus: dict[str, list[dict[str, Any]]] = json.loads(WORKFLOW_CORPUS.read_text(encoding="utf-8"))
    return corpus


def raw_sqs_record(body: str, message_id: str) -> dict[str, Any]:
    """A copy of the first record of events/workflow/pipe-batch.json with this body and message ID."""
    record: dict[str, Any] = copy.deepcopy(read_event("workflow/pipe-batch.json")[0])
    record.update(
        messageId=message_id,
        body=body,
        md5OfBody=hashlib.md5(body.encode("utf-8", errors="surrogatepass")).hexdigest(),  # SQS digest, not security
    )
    return record


def corpus_record(row: dict[str, Any]) -> Any:
    """The SQS record a corpus row describes."""
    if "record" in row:
        return row["record"]
    if "body" in row:
        body = row["body"]
    elif "body_repeat" in row:
        body = "".join(text * times for text, times in row["body_repeat"])
    else:
        body = json.dumps(corpus_event(row), separators=(",", ":"), ensure_ascii=False)
    record = raw_sqs_record(body, row["id"])
    record.update(row.get("record_set", {}))
    for key in row.get("record_delete", []):
        del record[key]
    return record
