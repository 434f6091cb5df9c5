"""The emulation's DeleteStackInstances (orgbackup_tools.emulation.stackset_operations): with RetainStacks the
instance leaves the StackSet and the stack and its resources stay, as the CloudFormation API reference says; a delete
is a StackSet operation like the others (one at a time, or queued with ManagedExecution; held RUNNING by
``STACKSET_FAULTS.hold``, its instances listed until it ends; a failed instance is removed too)."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orgbackup_tools import emulation

TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "member"}}}})


@pytest.fixture
def cfn() -> Iterator[Any]:
    with mock_aws(), emulation.aws_extensions():
        client = boto3.client("cloudformation", region_name="us-east-1")
        client.create_stack_set(StackSetName="member", TemplateBody=TEMPLATE)
        operation = client.create_stack_instances(
            StackSetName="member", Accounts=["123456789012"], Regions=["us-east-1"]
        )
        results = client.list_stack_set_operation_results(StackSetName="member", OperationId=operation["OperationId"])
        assert [r["Status"] for r in results["Summaries"]] == ["SUCCEEDED"]
        yield client


def _stacks(account: str, region: str) -> list[Any]:
    from moto.cloudformation.models import cloudformation_backends

    return [s for s in cloudformation_backends[account][region].stacks.values() if s.status != "DELETE_COMPLETE"]


def test_retain_stacks_removes_the_instance_and_keeps_the_stack(cfn) -> None:
    assert len(_stacks("123456789012", "us-east-1")) == 1
    # When the instance is removed with RetainStacks
    operation = cfn.delete_stack_instances(
        StackSetName="member", Accounts=["123456789012"], Regions=["us-east-1"], RetainStacks=True
    )
    # Then the StackSet no longer lists it, the stack is still there, and the operation is a DELETE that succeeded
    assert cfn.list_stack_instances(StackSetName="member")["Summaries"] == []
    assert len(_stacks("123456789012", "us-east-1")) == 1
    described = cfn.describe_stack_set_operation(StackSetName="member", OperationId=operation["OperationId"])
    assert described["StackSetOperation"]["Action"] == "DELETE"
    assert described["StackSetOperation"]["Status"] == "SUCCEEDED"


def test_without_retain_stacks_the_stack_is_deleted(cfn) -> None:
    cfn.delete_stack_instances(
        StackSetName="member", Accounts=["123456789012"], Regions=["us-east-1"], RetainStacks=False
    )
    assert cfn.list_stack_instances(StackSetName="member")["Summaries"] == []
    assert _stacks("123456789012", "us-east-1") == []


def test_a_reused_operation_id_is_refused(cfn) -> None:
    cfn.delete_stack_instances(
        StackSetName="member", Accounts=["123456789012"], Regions=["us-east-1"], RetainStacks=True, OperationId="op-1"
    )
    with pytest.raises(cfn.exceptions.ClientError) as raised:
        cfn.delete_stack_instances(
            StackSetName="member",
            Accounts=["123456789012"],
            Regions=["us-east-1"],
            RetainStacks=True,
            OperationId="op-1",
        )
    assert raised.value.response["Error"]["Code"] == "OperationIdAlreadyExistsException"


@pytest.mark.parametrize("call", ["describe_stack_set_operation", "list_stack_set_operation_results"])
def test_an_unknown_operation_is_not_found(cfn, call: str) -> None:
    # (orgbackup_tools.emulation.stackset_operation_not_found) AWS's error, not moto's generic ValidationError
    with pytest.raises(cfn.exceptions.ClientError) as raised:
        getattr(cfn, call)(StackSetName="member", OperationId="no-such-operation")
    assert raised.value.response["Error"]["Code"] == "OperationNotFoundException"
    assert "no-such-operation" in raised.value.response["Error"]["Message"]


def test_a_held_removal_stays_running_until_released(cfn) -> None:
    # (StackSetFaults.hold) CloudFormation slow today: the removal is RUNNING until the fault is released
    emulation.STACKSET_FAULTS.hold()
    try:
        operation = cfn.delete_stack_instances(
            StackSetName="member", Accounts=["123456789012"], Regions=["us-east-1"], RetainStacks=True
        )
        described = cfn.describe_stack_set_operation(StackSetName="member", OperationId=operation["OperationId"])
        assert described["StackSetOperation"]["Status"] == "RUNNING"
    finally:
        emulation.STACKSET_FAULTS.release()
    described = cfn.describe_stack_set_operation(StackSetName="member", OperationId=operation["OperationId"])
    assert described["StackSetOperation"]["Status"] == "SUCCEEDED"


ACCOUNT = "123456789012"


def _listed(cfn, name: str = "member") -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (s["Account"], s["Region"]): (s["Status"], s.get("StackInstanceStatus", {}).get("DetailedStatus", ""))
        for s in cfn.list_stack_instances(StackSetName=name)["Summaries"]
    }


def _status(cfn, operation_id: str, name: str = "member") -> str:
    return cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)["StackSetOperation"]["Status"]


@pytest.mark.parametrize("retain", [True, False])
def test_without_managed_execution_a_delete_is_refused_while_another_operation_runs(cfn, retain: bool) -> None:
    # Given a CREATE still running (held) on a StackSet without ManagedExecution
    emulation.STACKSET_FAULTS.hold()
    try:
        create = cfn.create_stack_instances(StackSetName="member", Accounts=[ACCOUNT], Regions=["eu-west-1"])
        # When a delete is requested: AWS answers OperationInProgressException (API reference, DeleteStackInstances)
        with pytest.raises(cfn.exceptions.ClientError) as raised:
            cfn.delete_stack_instances(
                StackSetName="member", Accounts=[ACCOUNT], Regions=["us-east-1"], RetainStacks=retain
            )
        assert raised.value.response["Error"]["Code"] == "OperationInProgressException"
    finally:
        emulation.STACKSET_FAULTS.release()
    # Then nothing of it was done: the instance and its stack are still there, and no DELETE was recorded
    assert _status(cfn, create["OperationId"]) == "SUCCEEDED"
    assert (ACCOUNT, "us-east-1") in _listed(cfn)
    assert len(_stacks(ACCOUNT, "us-east-1")) == 1
    actions = [op["Action"] for op in cfn.list_stack_set_operations(StackSetName="member")["Summaries"]]
    assert "DELETE" not in actions


@pytest.mark.parametrize("retain", [True, False])
def test_with_managed_execution_a_delete_queues_behind_the_running_operation(retain: bool) -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        cfn.create_stack_set(StackSetName="managed", TemplateBody=TEMPLATE, ManagedExecution={"Active": True})
        cfn.create_stack_instances(StackSetName="managed", Accounts=[ACCOUNT], Regions=["us-east-1"])
        # Given a CREATE still running (held)
        emulation.STACKSET_FAULTS.hold()
        create = cfn.create_stack_instances(StackSetName="managed", Accounts=[ACCOUNT], Regions=["eu-west-1"])
        # When a delete is requested, it is QUEUED and nothing of it is done yet
        delete = cfn.delete_stack_instances(
            StackSetName="managed", Accounts=[ACCOUNT], Regions=["us-east-1"], RetainStacks=retain
        )
        assert [_status(cfn, op["OperationId"], "managed") for op in (create, delete)] == ["RUNNING", "QUEUED"]
        assert (ACCOUNT, "us-east-1") in _listed(cfn, "managed")
        assert len(_stacks(ACCOUNT, "us-east-1")) == 1
        # And when the running one ends, the delete runs
        emulation.STACKSET_FAULTS.release()
        assert [_status(cfn, op["OperationId"], "managed") for op in (create, delete)] == ["SUCCEEDED"] * 2
        assert set(_listed(cfn, "managed")) == {(ACCOUNT, "eu-west-1")}
        assert len(_stacks(ACCOUNT, "us-east-1")) == (1 if retain else 0)


@pytest.mark.parametrize("retain", [True, False])
def test_a_delete_removes_a_failed_instance(cfn, retain: bool) -> None:
    # Given an instance whose creation failed: listed OUTDATED / FAILED
    emulation.STACKSET_FAULTS.fail(ACCOUNT, "eu-west-1")
    cfn.create_stack_instances(StackSetName="member", Accounts=[ACCOUNT], Regions=["eu-west-1"])
    assert _listed(cfn)[(ACCOUNT, "eu-west-1")] == ("OUTDATED", "FAILED")
    emulation.STACKSET_FAULTS.heal()
    # When it is deleted
    operation = cfn.delete_stack_instances(
        StackSetName="member", Accounts=[ACCOUNT], Regions=["eu-west-1"], RetainStacks=retain
    )
    # Then the StackSet no longer lists it, and the other instance is untouched
    assert _status(cfn, operation["OperationId"]) == "SUCCEEDED"
    assert set(_listed(cfn)) == {(ACCOUNT, "us-east-1")}
    # And a later create deploys the pair afresh (it is no longer an existing, failed instance)
    cfn.create_stack_instances(StackSetName="member", Accounts=[ACCOUNT], Regions=["eu-west-1"])
    assert _listed(cfn)[(ACCOUNT, "eu-west-1")] == ("CURRENT", "SUCCEEDED")


@pytest.mark.parametrize("retain", [True, False])
def test_a_held_delete_lists_its_instances_until_it_ends(cfn, retain: bool) -> None:
    # Given a delete held RUNNING
    emulation.STACKSET_FAULTS.hold()
    try:
        operation = cfn.delete_stack_instances(
            StackSetName="member", Accounts=[ACCOUNT], Regions=["us-east-1"], RetainStacks=retain
        )
        # Then, while it runs, the instance is still listed, its operation in progress there (OUTDATED / RUNNING),
        # and its stack is still there
        assert _status(cfn, operation["OperationId"]) == "RUNNING"
        assert _listed(cfn) == {(ACCOUNT, "us-east-1"): ("OUTDATED", "RUNNING")}
        assert len(_stacks(ACCOUNT, "us-east-1")) == 1
    finally:
        emulation.STACKSET_FAULTS.release()
    # And when it ends, the instance is gone (and its stack with it unless retained)
    assert _status(cfn, operation["OperationId"]) == "SUCCEEDED"
    assert _listed(cfn) == {}
    assert len(_stacks(ACCOUNT, "us-east-1")) == (1 if retain else 0)
    results = cfn.list_stack_set_operation_results(StackSetName="member", OperationId=operation["OperationId"])
    assert [(r["Account"], r["Region"], r["Status"]) for r in results["Summaries"]] == [
        (ACCOUNT, "us-east-1", "SUCCEEDED")
    ]
