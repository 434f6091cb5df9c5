"""The CloudFormation StackSets adapter: every StackSets call the product's code makes (the state machine polls
DescribeStackSetOperation through its own SDK integration).

Calls go through ``retry.call`` (``OperationInProgressException`` is a conflict it retries), listings through
``orgbackup.aws.pages``.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from orgbackup import retry
from orgbackup.aws import pages
from orgbackup.exceptions import InvalidInputError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


class StackSet:
    """One StackSet, by name."""

    def __init__(self, cfn: "CloudFormationClient", name: str) -> None:
        self.cfn = cfn
        self.name = name

    def instances(self, account: str | None = None) -> Iterator[Any]:
        """Every stack instance summary (ListStackInstances), or only ``account``'s: ``StackInstanceAccount``
        filters them on AWS's side, so one account's instances are one call however large the StackSet (a page
        holds at most 100 instances, ListStackInstances API reference,
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackInstances.html)."""
        only: dict[str, Any] = {"StackInstanceAccount": account} if account else {}
        for page in pages(self.cfn.list_stack_instances, StackSetName=self.name, **only):
            yield from page["Summaries"]

    def operation_results(self, operation_id: str) -> Iterator[Any]:
        """What one operation did per account and Region (ListStackSetOperationResults). An ID the StackSet does not
        have is ``OperationNotFoundException`` ("The specified ID refers to an operation that doesn't exist": API
        reference, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackSetOperationResults.html):
        the ID came from the caller's input, so it is InvalidInputError naming it."""
        try:
            for page in pages(
                self.cfn.list_stack_set_operation_results, StackSetName=self.name, OperationId=operation_id
            ):
                yield from page["Summaries"]
        except ClientError as error:
            if retry.error_code(error) != "OperationNotFoundException":
                raise
            raise InvalidInputError(
                f"StackSet operation {operation_id!r} does not exist in StackSet {self.name}"
            ) from None

    def create_instances(
        self, operation_id: str, accounts: Sequence[str], regions: Sequence[str], preferences: Mapping[str, Any]
    ) -> str:
        return self._start(self.cfn.create_stack_instances, operation_id, accounts, regions, preferences)

    def update_instances(
        self, operation_id: str, accounts: Sequence[str], regions: Sequence[str], preferences: Mapping[str, Any]
    ) -> str:
        return self._start(self.cfn.update_stack_instances, operation_id, accounts, regions, preferences)

    def delete_instances(
        self,
        operation_id: str,
        accounts: Sequence[str],
        regions: Sequence[str],
        preferences: Mapping[str, Any],
        *,
        retain_stacks: bool,
    ) -> str:
        """DeleteStackInstances; ``retain_stacks`` "Removes the stack instances from the specified StackSet, but
        doesn't delete the stacks" (CloudFormation API reference, RetainStacks,
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStackInstances.html)."""
        return self._start(
            self.cfn.delete_stack_instances, operation_id, accounts, regions, preferences, RetainStacks=retain_stacks
        )

    def _start(
        self,
        call: Any,
        operation_id: str,
        accounts: Sequence[str],
        regions: Sequence[str],
        preferences: Mapping[str, Any],
        **extra: Any,
    ) -> str:
        """Start an operation under a deterministic ID; an ID that already exists is our own earlier attempt (the
        task was retried after a timeout): its ID is returned, to carry on polling it."""
        try:
            retry.call(
                call,
                StackSetName=self.name,
                OperationId=operation_id,
                Accounts=list(accounts),
                Regions=list(regions),
                OperationPreferences=dict(preferences),
                **extra,
            )
        except ClientError as error:
            if retry.error_code(error) != "OperationIdAlreadyExistsException":
                raise
        return operation_id
