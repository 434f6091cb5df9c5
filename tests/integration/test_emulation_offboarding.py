"""The emulation's DeleteStackInstances with RetainStacks (orgbackup_tools.emulation.stack_instance_retention):
the instance leaves the StackSet, the stack and its resources stay, as the CloudFormation API reference says."""

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
