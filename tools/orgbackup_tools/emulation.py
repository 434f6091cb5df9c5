"""Extensions to moto 5.2 for what this product needs and moto lacks, each behaving as AWS documents.

Used by the tests and by `orgbackup simulate` only; no Lambda function imports this module (moto is a
development dependency). ``aws_extensions()`` applies every extension for the duration of a ``with`` block;
each extension is also available on its own and has its own tests in ``tests/integration/test_emulation.py``.

Organizations (API reference: CreatePolicy, AttachPolicy, DetachPolicy; user guide: backup policy limits)
- ``backup_policy_type``: moto raises NotImplementedError for ``Type="BACKUP_POLICY"``. AWS creates it with an
  ARN ``arn:<partition>:organizations::<mgmt>:policy/<org>/backup_policy/<id>``, rejects content that is not JSON
  (``MalformedPolicyDocumentException``) or longer than 10,000 characters (``ConstraintViolationException``,
  reason POLICY_CONTENT_LIMIT_EXCEEDED), on create and on update.
- ``strict_attachments``: moto accepts re-attaching an attached policy and detaching an unattached one in
  silence. AWS answers ``DuplicatePolicyAttachmentException`` and ``PolicyNotAttachedException``, refuses to attach
  a policy whose type is not enabled on the root (``PolicyTypeNotEnabledException``) and allows at most 10
  backup policies attached directly to one target (``ConstraintViolationException``, POLICY_NUMBER_LIMIT_EXCEEDED).

AWS Backup (API reference: PutBackupVaultAccessPolicy, GetBackupVaultAccessPolicy, DeleteBackupVaultAccessPolicy)
- ``backup_vault_access_policy``: moto answers "Not yet implemented". AWS stores one JSON policy per vault
  (``ResourceNotFoundException`` for an unknown vault, or for Get when the vault has no policy) and rejects a
  policy that is not JSON (``InvalidParameterValueException``). Stricter (issue 9, ``vault_policy_problem``):
  "Unlike other IAM-based policies, AWS Backup access policies don't support a wildcard in the Action key"
  (AWS Backup developer guide, *Vault access policies*,
  https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault-access-policy.html). The page does not
  say how AWS answers such a policy; the safe side is to refuse it as the API's one validation error,
  ``InvalidParameterValueException``, and so is a document without statements or with an Effect other than
  Allow/Deny (IAM JSON policy elements). The same check applies to a vault's ``AccessPolicy`` in CloudFormation.

CloudFormation (resource reference: AWS::Backup::BackupVault)
- ``cloudformation_backup_vault``: moto's CloudFormation skips AWS::Backup::BackupVault with a warning, so a
  StackSet instance of the member template would have no vault. AWS creates the vault (name, encryption key,
  tags, AccessPolicy, LockConfiguration), returns its name for Ref and BackupVaultName / BackupVaultArn for GetAtt,
  and deletes it with the stack.
- ``cloudformation_kms_key_tags``: moto's CloudFormation hands an AWS::KMS::Key's ``Tags`` (``Key``/``Value``, as
  the resource reference documents them) to its KMS tagger, which expects ``TagKey``/``TagValue`` and fails with
  ``KeyError: 'TagKey'``. AWS creates the key with its tags.

CloudFormation StackSets (API reference: CreateStackInstances, UpdateStackInstances, DeleteStackInstances,
DescribeStackSetOperation, ListStackSetOperationResults, ListStackInstances; user guide: StackSets operation options)
- ``stackset_operations``: moto ignores the caller's ``OperationId`` and ``OperationPreferences``, reports every
  instance of an operation with the operation's own status, and cannot fail one instance. AWS uses the caller's
  ID (a repeated one is ``OperationIdAlreadyExistsException``), skips account/Region pairs that already have an
  instance on create, refuses to update a pair that has none, reports a status per account and Region, leaves a
  failed instance ``OUTDATED`` with its reason, and fails the operation when a Region's failures exceed the
  failure tolerance. ``STACKSET_FAULTS`` makes chosen pairs fail (``fail``) or keeps operations ``RUNNING``
  (``hold``) until ``release()``, for fault tests; a failing pair's stack is not created, as in AWS. While an
  operation is held, ListStackInstances reports the instances it deploys as AWS does during an operation:
  ``OUTDATED`` with detailed status ``RUNNING`` (``StackInstanceComprehensiveStatus``).
  Stricter (issue 9): one operation per StackSet at a time. A create, update or delete requested while another
  operation of the StackSet is RUNNING (held) or QUEUED raises ``OperationInProgressException`` unless the StackSet
  was created with ``ManagedExecution`` ``Active: true``; then it is ``QUEUED`` and runs when the running ones end, in
  request order (API reference, ManagedExecution: "StackSets performs non-conflicting operations concurrently and
  queues conflicting operations. After conflicting operations finish, StackSets starts queued operations in
  request order", https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ManagedExecution.html).
  Which operations conflict is not spelled out there: the safe side here treats every two operations of one
  StackSet as conflicting (queued, never concurrent).
  Operation preferences (API reference, StackSetOperationPreferences,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html): each
  Region's accounts are deployed in batches of MaxConcurrentCount (or MaxConcurrentPercentage of the accounts,
  rounded down, at least 1; default 1); when a Region's failures exceed FailureToleranceCount (or the percentage,
  rounded down; default 0) CloudFormation stops there: the Region's remaining accounts, and with SEQUENTIAL Regions
  every later Region, are CANCELLED (StackSetOperationResultSummary: "CANCELLED ... because the failure tolerance
  of the stack set operation has been exceeded"), their instances OUTDATED with detailed status CANCELLED, and the
  operation FAILED. RegionOrder is honoured. A pair whose account is not in the emulated organization, or whose
  Region is an opt-in Region the account has not enabled (``STACKSET_FAULTS.enable_region``), fails its instance.
  A create skips a pair that has a failed (OUTDATED) instance just as one that is CURRENT: UpdateStackInstances
  repairs it.
  DeleteStackInstances (API reference,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStackInstances.html) is an operation
  of the same kind, with the same ID, preference, one-at-a-time / queueing, hold and per-pair bookkeeping (its
  Errors list OperationInProgressException and OperationIdAlreadyExistsException). moto removes the instance even
  when its stack fails to delete, and raises the resource's error from the API call. AWS deletes each stack as the
  StackSet execution role, reports a stack that cannot be deleted as that pair's FAILED result with its reason,
  and keeps the instance (and the resources it could not delete). With ``RetainStacks`` true it "Removes the stack
  instances from the specified stack set, but doesn't delete the stacks": the stack and its resources (the member
  vault, its key, its recovery points) stay in the account; the operation records ``RetainStacks``. Either way a
  failed (OUTDATED) instance is removed too. A held delete keeps its instances listed until it ends, OUTDATED with
  detailed status RUNNING ("RUNNING: The operation in the specified account and Region is currently in progress",
  StackInstanceComprehensiveStatus,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceComprehensiveStatus.html).
  The summary's Status during a delete is not documented (StackInstanceSummary lists CURRENT, OUTDATED,
  INOPERABLE, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceSummary.html);
  OUTDATED (not up to date with the StackSet) is the safe side, as for a create in progress. A stack that fails to
  delete leaves its instance as it was (AWS may report it INOPERABLE; not modelled).

EventBridge (user guide: "Event bus targets", "Sending and receiving events between AWS accounts", "Lambda
asynchronous invocation"; Lambda developer guide: "Destinations")
- ``eventbridge_targets``, stricter (issue 9, ``delivery_refusal``): a delivery to an event bus is a PutEvents by
  the target's role (``RoleArn``), or without one by the rule's account: EventBridge must be able to assume the role
  (its trust policy), the role's own policies must allow ``events:PutEvents`` on the bus, and across accounts the
  bus's resource policy must allow it too; a delivery to an SNS topic is a Publish by ``events.amazonaws.com``,
  which the topic policy must allow ("Event bus targets" and "Sending and receiving events between AWS accounts";
  SNS developer guide, "Amazon SNS access control"). Policies are decided by ``orgbackup_tools.iam_eval`` with
  the principal's organization ID, and the rule as ``aws:SourceArn``/``aws:SourceAccount``. A refused delivery is
  not made; its reason is appended to ``REFUSED_DELIVERIES``. (Lambda targets are not checked: the emulated
  functions carry no resource policies.)
- ``eventbridge_targets``: moto raises NotImplementedError for SNS and Lambda targets, and re-creates an event sent
  to another bus with the target's account, Region, ID and time. AWS delivers the original event to another bus
  unchanged (its ``account`` is still the source account), publishes it as the message of an SNS target, and
  invokes a Lambda target asynchronously: on an error Lambda retries (the function's
  ``MaximumRetryAttempts``, default 2) and then sends the invocation record, which holds the original event as
  ``requestPayload``, to the function's OnFailure destination (an SNS topic, or an SQS queue: the record is the
  message body; Lambda developer guide, "Destinations").

Lambda and Step Functions (moto's documented switches, made useful here)
- ``in_process_lambdas(handlers)``: with ``{"lambda": {"use_docker": False}}`` moto's Lambda only echoes its
  input. This routes each invocation of a named function to the given Python handler, in process, and reports an
  exception as Lambda does: ``FunctionError: Unhandled`` and a payload whose ``errorType`` is the exception's class
  name (so Step Functions sees the error name an ASL ``Retry``/``Catch`` matches).
- ``stepfunctions_caller_credentials``: moto's interpreter calls Lambda and every service integration with a fixed
  access key ("ak"), which moto maps to its default account 123456789012 whatever account runs the state
  machine. AWS calls them in the state machine's own account (as its role); here they use the credentials of the
  process (the environment's), which the local run sets to the management account's. One client per service,
  Region and credentials serves every task (a boto3 session per task cost 0.1 s each: most of a run's time).
- ``stepfunctions_terminal_errors``: moto's interpreter fails a state whose input or output (or a task's result)
  exceeds 256 KiB with ``States.DataLimitExceeded``, but lets a ``States.ALL`` Retry/Catch take it. AWS: "The
  States.ALL error type ... can't catch the States.DataLimitExceeded terminal error or Runtime error types" (Step
  Functions developer guide, "Error names",
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html; the 256 KiB quota is in
  "Step Functions service quotas"). Here ``States.ALL`` no longer matches those two.
- ``stepfunctions_input_limit``: moto starts an execution with any input. StartExecution's
  ``input`` has "Length Constraints: Maximum length of 262144", counted as UTF-8 bytes (API reference,
  StartExecution). The reference names no error for the length; the safe side refuses it with the documented
  ``InvalidExecutionInput``.
- ``instant_waits``: moto's Step Functions interpreter really sleeps in Wait states; AWS's time is modelled, not
  spent, in a local run. Each wait is recorded (and yielded) instead.

AWS Backup recovery points and copy jobs (``backup_copy_jobs``) and CloudFormation key policies
(``cloudformation_kms_key_policy``): documented where they are defined, at the end of this module.
"""

import contextvars
import copy
import functools
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any, Final
from unittest import mock

from orgbackup_tools import call_log

BACKUP_POLICY = "BACKUP_POLICY"
POLICY_CONTENT_LIMIT = 10_000
DIRECT_BACKUP_POLICY_LIMIT = 10


def _org_error(code: str, message: str) -> Exception:
    from moto.organizations.exceptions import OrganizationsClientError  # noqa: PLC0415

    return OrganizationsClientError(code, message)


def _check_backup_policy_content(content: object) -> None:
    if not isinstance(content, str):
        return
    try:
        json.loads(content)
    except json.JSONDecodeError as error:
        raise _org_error(
            "MalformedPolicyDocumentException", f"The provided policy document is not valid JSON: {error}"
        ) from None
    if len(content) > POLICY_CONTENT_LIMIT:
        raise _org_error(
            "ConstraintViolationException",
            f"POLICY_CONTENT_LIMIT_EXCEEDED: the policy is {len(content)} characters; the limit is "
            f"{POLICY_CONTENT_LIMIT}",
        )


@contextmanager
def backup_policy_type() -> Iterator[None]:
    from moto.organizations import models  # noqa: PLC0415

    original_policy = models.FakePolicy

    class FakePolicyWithBackup(original_policy):  # type: ignore[misc, valid-type]
        def __init__(self, organization: Any, **kwargs: Any) -> None:
            if kwargs.get("Type") != BACKUP_POLICY:
                super().__init__(organization, **kwargs)
                return
            # Built as another supported type, then given the backup policy's type and ARN format.
            super().__init__(organization, **{**kwargs, "Type": "TAG_POLICY"})
            self.type = BACKUP_POLICY
            self._arn_format = "arn:{0}:organizations::{1}:policy/{2}/backup_policy/{3}"

    backend_cls = models.OrganizationsBackend
    original_create = backend_cls.create_policy
    original_update = backend_cls.update_policy

    def create_policy(self: Any, **kwargs: Any) -> Any:
        if kwargs.get("Type") == BACKUP_POLICY:
            _check_backup_policy_content(kwargs.get("Content"))
        return original_create(self, **kwargs)

    def update_policy(self: Any, **kwargs: Any) -> Any:
        if self.get_policy_by_id(kwargs["PolicyId"]).type == BACKUP_POLICY:
            _check_backup_policy_content(kwargs.get("Content"))
        return original_update(self, **kwargs)

    with (
        mock.patch.object(models, "FakePolicy", FakePolicyWithBackup),
        mock.patch.object(backend_cls, "create_policy", create_policy),
        mock.patch.object(backend_cls, "update_policy", update_policy),
    ):
        yield


def _target(backend: Any, target_id: str) -> Any:
    for candidate in [*backend.ou, *backend.accounts]:
        if candidate.id == target_id:
            return candidate
    return None  # moto's own code raises the right not-found error


@contextmanager
def strict_attachments() -> Iterator[None]:
    from moto.organizations import models  # noqa: PLC0415

    backend_cls = models.OrganizationsBackend
    original_attach = backend_cls.attach_policy
    original_detach = backend_cls.detach_policy

    def attach_policy(self: Any, **kwargs: Any) -> None:
        policy = self.get_policy_by_id(kwargs["PolicyId"])
        target = _target(self, kwargs["TargetId"])
        if target is not None:
            if policy in target.attached_policies:
                raise _org_error(
                    "DuplicatePolicyAttachmentException",
                    "The selected policy is already attached to the specified target.",
                )
            root = self.ou[0] if self.ou else None
            enabled = {item["Type"] for item in getattr(root, "policy_types", [])}
            if not policy.aws_managed and policy.type not in enabled:
                raise _org_error(
                    "PolicyTypeNotEnabledException",
                    "The specified policy type isn't currently enabled in this root.",
                )
            same_type = [p for p in target.attached_policies if p.type == policy.type]
            if policy.type == BACKUP_POLICY and len(same_type) >= DIRECT_BACKUP_POLICY_LIMIT:
                raise _org_error(
                    "ConstraintViolationException",
                    f"POLICY_NUMBER_LIMIT_EXCEEDED: at most {DIRECT_BACKUP_POLICY_LIMIT} backup policies can be "
                    "attached directly to one target",
                )
        original_attach(self, **kwargs)

    def detach_policy(self: Any, **kwargs: Any) -> None:
        policy = self.get_policy_by_id(kwargs["PolicyId"])
        target = _target(self, kwargs["TargetId"])
        if target is not None and policy not in target.attached_policies:
            raise _org_error(
                "PolicyNotAttachedException", "The policy isn't attached to the specified target in the specified root."
            )
        original_detach(self, **kwargs)

    with (
        mock.patch.object(backend_cls, "attach_policy", attach_policy),
        mock.patch.object(backend_cls, "detach_policy", detach_policy),
    ):
        yield


def _vault(account_id: str, region: str, name: str) -> Any:
    from moto.backup.exceptions import ResourceNotFoundException  # noqa: PLC0415
    from moto.backup.models import backup_backends  # noqa: PLC0415

    vault = backup_backends[account_id][region].vaults.get(name)
    if vault is None:
        raise ResourceNotFoundException(f"Backup vault {name} does not exist in {account_id}/{region}")
    return vault


def _set_access_policy(vault: Any, policy: str) -> None:
    from moto.backup.exceptions import InvalidParameterValueException  # noqa: PLC0415

    try:
        document = json.loads(policy)
    except (TypeError, json.JSONDecodeError):
        raise InvalidParameterValueException(f"Policy is not a valid JSON document: {policy!r:.80}") from None
    problem = vault_policy_problem(document)
    if problem:
        raise InvalidParameterValueException(problem)
    vault.access_policy = policy


@contextmanager
def backup_vault_access_policy() -> Iterator[None]:
    from moto.backup import urls  # noqa: PLC0415
    from moto.backup.exceptions import ResourceNotFoundException  # noqa: PLC0415
    from moto.backup.responses import BackupResponse  # noqa: PLC0415

    def vault_of(response: Any) -> Any:
        return _vault(response.current_account, response.region, response.path.split("/")[-2])

    def put(response: Any) -> str:
        _set_access_policy(vault_of(response), json.loads(response.body or "{}").get("Policy"))
        return "{}"

    def get(response: Any) -> str:
        vault = vault_of(response)
        policy = getattr(vault, "access_policy", None)
        if policy is None:
            raise ResourceNotFoundException(f"Backup vault {vault.backup_vault_name} has no access policy")
        return json.dumps(
            {"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn, "Policy": policy}
        )

    def delete(response: Any) -> str:
        vault_of(response).access_policy = None
        return "{}"

    route = "{0}/backup-vaults/(?P<name>[^/]+)/access-policy$"
    with (
        mock.patch.dict(urls.url_paths, {route: urls.response.dispatch}),
        mock.patch.object(BackupResponse, "put_backup_vault_access_policy", put, create=True),
        mock.patch.object(BackupResponse, "get_backup_vault_access_policy", get, create=True),
        mock.patch.object(BackupResponse, "delete_backup_vault_access_policy", delete, create=True),
    ):
        yield


def vault_access_policy(account_id: str, region: str, name: str) -> str | None:
    """The access policy stored for a vault (for reports and assertions)."""
    return getattr(_vault(account_id, region, name), "access_policy", None)


@contextmanager
def cloudformation_backup_vault() -> Iterator[None]:
    from moto.backup.models import backup_backends  # noqa: PLC0415
    from moto.cloudformation import parsing  # noqa: PLC0415
    from moto.core.common_models import CloudFormationModel  # noqa: PLC0415

    class BackupVaultResource(CloudFormationModel):
        def __init__(self, vault: Any, account_id: str, region: str) -> None:
            self.vault = vault
            self.account_id = account_id
            self.region = region

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Backup::BackupVault"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "BackupVaultName"

        @property
        def physical_resource_id(self) -> str:
            return str(self.vault.backup_vault_name)

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("BackupVaultName", "BackupVaultArn")

        def get_cfn_attribute(self, attribute_name: str) -> str:
            if attribute_name == "BackupVaultArn":
                return str(self.vault.backup_vault_arn)
            return str(self.vault.backup_vault_name)

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> "BackupVaultResource":
            properties = cloudformation_json.get("Properties", {})
            backend = backup_backends[account_id][region_name]
            vault = backend.create_backup_vault(
                backup_vault_name=properties.get("BackupVaultName", resource_name),
                backup_vault_tags=properties.get("BackupVaultTags"),
                encryption_key_arn=properties.get("EncryptionKeyArn"),
                creator_request_id="",
            )
            if "AccessPolicy" in properties:
                policy = properties["AccessPolicy"]
                _set_access_policy(vault, policy if isinstance(policy, str) else json.dumps(policy))
            lock = properties.get("LockConfiguration")
            if lock:
                backend.put_backup_vault_lock_configuration(
                    backup_vault_name=vault.backup_vault_name,
                    min_retention_days=lock.get("MinRetentionDays"),
                    max_retention_days=lock.get("MaxRetentionDays"),
                    changeable_for_days=lock.get("ChangeableForDays"),
                )
            return cls(vault, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            backup_backends[account_id][region_name].delete_backup_vault(resource_name)

        def delete(self, account_id: str, region_name: str) -> None:
            backup_backends[account_id][region_name].delete_backup_vault(self.vault.backup_vault_name)

    original_class_from_type = parsing.resource_class_from_type
    original_name_property = parsing.resource_name_property_from_type

    def class_from_type(resource_type: str) -> Any:
        if resource_type == BackupVaultResource.cloudformation_type():
            return BackupVaultResource
        return original_class_from_type(resource_type)

    def name_property(resource_type: str) -> str | None:
        if resource_type == BackupVaultResource.cloudformation_type():
            return BackupVaultResource.cloudformation_name_type()
        return original_name_property(resource_type)

    with (
        mock.patch.object(parsing, "resource_class_from_type", class_from_type),
        mock.patch.object(parsing, "resource_name_property_from_type", name_property),
    ):
        yield


@contextmanager
def cloudformation_kms_key_tags() -> Iterator[None]:
    from moto.kms.models import Key  # noqa: PLC0415

    original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        tags = properties.get("Tags") or []
        properties["Tags"] = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} if "Key" in tag else tag for tag in tags]
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    with mock.patch.object(Key, "create_from_cloudformation_json", classmethod(create)):
        yield


class StackSetFaults:
    """Faults the emulated StackSets apply to the next operations (reset when ``aws_extensions`` starts)."""

    def __init__(self) -> None:
        self.failing: dict[tuple[str, str], str] = {}
        self.holding = False
        # Held operations, each with its final status, or with the work that finishes it (a held delete removes its
        # instances only when it ends: until then AWS still lists them).
        self.held: list[tuple[dict[str, Any], str | Callable[[], str]]] = []
        # Operations requested while another of their StackSet ran, with ManagedExecution active: each with the
        # work that runs it when it is its turn.
        self.queued: list[tuple[dict[str, Any], Callable[[], str]]] = []
        # StackSet name -> ManagedExecution Active (moto ignores the parameter)
        self.managed_execution: dict[str, bool] = {}

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def enable_region(self, account_id: str, region: str) -> None:
        """The account has enabled this opt-in Region (Account Management, EnableRegion): one record of opt-ins,
        the one GetRegionOptStatus reads (``set_region_opt_status``)."""
        set_region_opt_status(account_id, region, "ENABLED")

    def fail(self, account_id: str, region: str, reason: str = "Resource handler returned message: injected") -> None:
        self.failing[(account_id, region)] = reason

    def heal(self) -> None:
        self.failing.clear()

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        """Let held operations finish with the status they would have had."""
        self.holding = False
        held, self.held = self.held, []
        for operation, final in held:
            if callable(final):
                final()
            else:
                operation["Status"] = final
        # Then the queued operations run, in request order (StackSets user guide, "Managed execution").
        while self.queued:
            _, run = self.queued.pop(0)
            run()


STACKSET_FAULTS = StackSetFaults()


def _stackset_error(code: str, message: str) -> Exception:
    from moto.cloudformation.exceptions import CloudFormationError  # noqa: PLC0415

    return CloudFormationError(code, message)


CANCELLED_REASON = "Cancelled since failure tolerance has exceeded"


def _target_problem(account: str, region: str) -> str | None:
    """Why StackSets cannot deploy to this account and Region: an account outside the organization has no Control
    Tower execution role (the account gate fails: "Account ... should have '<role>' role with trust relationship
    ...", ListStackSetOperationResults example in the API reference); a Region the account has not enabled cannot
    hold resources. Neither message is specified by AWS beyond that; these name the cause."""
    try:
        backend = _organization_backend()
    except RuntimeError:  # no emulated organization: nothing to check against
        backend = None
    if backend is not None:
        members = {item.id for item in backend.accounts} | {backend.org.master_account_id}
        if account not in members:
            return (
                f"Account {account} should have 'AWSControlTowerExecution' role with trust relationship to Role "
                "'AWSControlTowerStackSetRole'. (The account is not in the organization.)"
            )
    # Opt-in Regions (OPT_IN_REGIONS, with their source) hold nothing until the account enables them.
    if region in OPT_IN_REGIONS and DOCTOR_STATE.region_status.get((account, region)) != "ENABLED":
        return f"Region {region} is not enabled for account {account} (an opt-in Region)"
    return None


def _concurrency(preferences: dict[str, Any], accounts: int) -> int:
    """Accounts deployed at once in a Region (StackSetOperationPreferences: MaxConcurrentCount, or the percentage
    rounded down but at least 1; neither: 1)."""
    if "MaxConcurrentCount" in preferences:
        return max(int(preferences["MaxConcurrentCount"]), 1)
    if "MaxConcurrentPercentage" in preferences:
        return max(int(preferences["MaxConcurrentPercentage"]) * accounts // 100, 1)
    return 1


def _tolerance(preferences: dict[str, Any], accounts: int) -> int:
    if "FailureToleranceCount" in preferences:
        return int(preferences["FailureToleranceCount"])
    if "FailureTolerancePercentage" in preferences:
        # AWS rounds the percentage down to a whole number of accounts per Region.
        return int(preferences["FailureTolerancePercentage"]) * accounts // 100
    return 0


@contextmanager
def stackset_operations() -> Iterator[StackSetFaults]:  # noqa: PLR0915 - one faithful stand-in, kept together
    import uuid  # noqa: PLC0415

    from moto.cloudformation.models import cloudformation_backends  # noqa: PLC0415
    from moto.cloudformation.responses import CloudFormationResponse  # noqa: PLC0415
    from moto.core.responses import ActionResult  # noqa: PLC0415
    from moto.core.utils import utcnow  # noqa: PLC0415

    failed_instances: dict[tuple[str, str, str], str] = {}

    def params(response: Any) -> tuple[Any, list[str], list[str], dict[str, Any], str]:
        stackset = response.cloudformation_backend.describe_stack_set(response._get_param("StackSetName"))
        preferences = response._get_params().get("OperationPreferences") or {}
        operation_id = response._get_param("OperationId") or str(uuid.uuid4())
        if any(op["OperationId"] == operation_id for op in stackset.operations):
            raise _stackset_error("OperationIdAlreadyExistsException", f"Operation {operation_id} already exists")
        return (
            stackset,
            response._get_param("Accounts", []),
            response._get_param("Regions", []),
            preferences,
            operation_id,
        )

    def deploy(stackset: Any, account: str, region: str, overrides: list[dict[str, Any]]) -> tuple[str, str]:
        reason = _target_problem(account, region) or STACKSET_FAULTS.failing.get((account, region))
        if reason is None:
            try:
                stackset.instances.create_instances(
                    [account],
                    [region],
                    overrides or stackset.parameters,
                    {},
                    permission_model=stackset.permission_model,
                )
            except Exception as error:  # a template that does not deploy fails its instance, as in AWS
                reason = f"{type(error).__name__}: {error}"
        key = (stackset.name, account, region)
        if reason is None:
            failed_instances.pop(key, None)
            return "SUCCEEDED", ""
        failed_instances[key] = reason
        return "FAILED", reason

    def record(
        stackset: Any,
        action: str,
        operation_id: str,
        results: list[dict[str, str]],
        preferences: dict[str, Any],
        accounts: int,
        queued: dict[str, Any] | None = None,
        **fields: Any,
    ) -> str:
        """Record the operation (or complete the queued or held one); returns its status. ``fields``: the
        StackSetOperation's other members (a delete's ``RetainStacks``)."""
        failures_per_region: dict[str, int] = {}
        for result in results:
            if result["Status"] == "FAILED":
                failures_per_region[result["Region"]] = failures_per_region.get(result["Region"], 0) + 1
        tolerance = _tolerance(preferences, accounts)
        final = "FAILED" if any(count > tolerance for count in failures_per_region.values()) else "SUCCEEDED"
        operation: dict[str, Any] = queued if queued is not None else {"CreationTimestamp": utcnow()}
        operation.update(
            {
                "OperationId": operation_id,
                "Action": action,
                "Status": "RUNNING" if STACKSET_FAULTS.holding else final,
                "EndTimestamp": utcnow(),
                "Instances": [{r["Account"]: r["Region"]} for r in results],
                "Results": results,
                **fields,
            }
        )
        if STACKSET_FAULTS.holding:
            STACKSET_FAULTS.held.append((operation, final))
        if queued is None:
            stackset.operations.append(operation)
        return str(operation["Status"])

    def existing(stackset: Any, account: str, region: str) -> bool:
        return (
            bool(stackset.instances.get_instance(account, region))
            or (stackset.name, account, region) in failed_instances
        )

    def in_progress(stackset: Any, operation_id: str, action: str, run: Callable[[dict[str, Any] | None], str]) -> bool:
        """Whether another operation of this StackSet is running: then the new one queues with ManagedExecution
        active, or is refused without it (API reference, ManagedExecution and OperationInProgressException)."""
        busy = any(op["Status"] in ("RUNNING", "QUEUED", "STOPPING") for op in stackset.operations)
        if not busy:
            return False
        if not STACKSET_FAULTS.managed_execution.get(stackset.name, False):
            raise _stackset_error(
                "OperationInProgressException",
                f"Another Operation on StackSet {stackset.name} is in progress",
            )
        operation = {
            "OperationId": operation_id,
            "Action": action,
            "Status": "QUEUED",
            "CreationTimestamp": utcnow(),
            "Results": [],
        }
        stackset.operations.append(operation)
        STACKSET_FAULTS.queued.append((operation, lambda: run(operation)))
        return True

    def perform(
        stackset: Any,
        accounts: list[str],
        regions: list[str],
        preferences: dict[str, Any],
        one: Callable[[str, str], tuple[str, str]],
        cancel: Callable[[str, str], None] | None = None,
    ) -> list[dict[str, str]]:
        """Each Region's accounts in batches of the maximum concurrency; once a Region's failures exceed the
        failure tolerance, its remaining accounts are CANCELLED, and so is every later Region when Regions run
        SEQUENTIAL (with PARALLEL they have all started)."""
        results: list[dict[str, str]] = []
        batch = _concurrency(preferences, len(accounts))
        tolerance = _tolerance(preferences, len(accounts))
        stopped = False
        for region in preferences.get("RegionOrder") or regions:
            failures = 0
            for start in range(0, len(accounts), batch):
                for account in accounts[start : start + batch]:
                    if stopped:
                        status, reason = "CANCELLED", CANCELLED_REASON
                        if cancel is not None:
                            cancel(account, region)
                    else:
                        status, reason = one(account, region)
                        failures += status == "FAILED"
                    results.append({"Account": account, "Region": region, "Status": status, "StatusReason": reason})
                stopped = stopped or failures > tolerance
            if preferences.get("RegionConcurrencyType", "SEQUENTIAL") == "PARALLEL":
                stopped = False
        return results

    def create_stack_instances(response: Any) -> Any:
        stackset, accounts, regions, preferences, operation_id = params(response)
        overrides = response._get_param("ParameterOverrides", [])

        def one(account: str, region: str) -> tuple[str, str]:
            # AWS skips a pair that already has an instance, a failed (OUTDATED) one included: UpdateStackInstances
            # is what retries it.
            if existing(stackset, account, region):
                return "SUCCEEDED", ""
            return deploy(stackset, account, region, overrides)

        def cancel(account: str, region: str) -> None:
            # A pair the create never reached is an instance all the same: OUTDATED, detailed status CANCELLED.
            if not existing(stackset, account, region):
                failed_instances[(stackset.name, account, region)] = CANCELLED_REASON

        def run(queued: dict[str, Any] | None = None) -> str:
            results = perform(stackset, accounts, regions, preferences, one, cancel)
            return record(stackset, "CREATE", operation_id, results, preferences, len(accounts), queued)

        if not in_progress(stackset, operation_id, "CREATE", run):
            run()
        return ActionResult({"OperationId": operation_id})

    def update_stack_instances(response: Any) -> Any:
        stackset, accounts, regions, preferences, operation_id = params(response)
        missing = [f"{a}/{r}" for a in accounts for r in regions if not existing(stackset, a, r)]
        if missing:
            raise _stackset_error("StackInstanceNotFoundException", f"Stack instances not found: {', '.join(missing)}")
        overrides = response._get_param("ParameterOverrides", [])

        def one(account: str, region: str) -> tuple[str, str]:
            if (stackset.name, account, region) in failed_instances:
                return deploy(stackset, account, region, overrides)
            return "SUCCEEDED", ""

        def run(queued: dict[str, Any] | None = None) -> str:
            results = perform(stackset, accounts, regions, preferences, one)
            return record(stackset, "UPDATE", operation_id, results, preferences, len(accounts), queued)

        if not in_progress(stackset, operation_id, "UPDATE", run):
            run()
        return ActionResult({"OperationId": operation_id})

    def remove(stackset: Any, account: str, region: str, retain: bool) -> tuple[str, str]:
        """One pair of a DeleteStackInstances: the instance leaves the StackSet, a failed (OUTDATED) one included;
        without RetainStacks its stack is deleted first, as the StackSet execution role, and a stack that cannot
        be deleted is that pair's FAILED result with the resource's reason, its instance kept."""
        failed_instances.pop((stackset.name, account, region), None)
        instance = stackset.instances.get_instance(account, region)
        if instance is None:
            return "SUCCEEDED", ""
        if not retain:
            partition = stackset.arn.split(":")[1]
            token = _CALLER_PRINCIPAL_ARN.set(f"arn:{partition}:iam::{account}:role/{stackset.execution_role_name}")
            try:
                instance.stack.delete()
            except Exception as error:  # the stack's resource error, reported as AWS reports it
                return "FAILED", f"{type(error).__name__}: {error}"
            finally:
                _CALLER_PRINCIPAL_ARN.reset(token)
            cloudformation_backends[account][region].delete_stack(instance.stack.stack_id)
        stackset.instances.stack_instances.remove(instance)
        return "SUCCEEDED", ""

    def delete_stack_instances(response: Any) -> Any:
        stackset, accounts, regions, preferences, operation_id = params(response)
        retain = str(response._get_param("RetainStacks")).lower() == "true"

        def run(queued: dict[str, Any] | None = None) -> str:
            results = perform(stackset, accounts, regions, preferences, lambda a, r: remove(stackset, a, r, retain))
            return record(
                stackset, "DELETE", operation_id, results, preferences, len(accounts), queued, RetainStacks=retain
            )

        if in_progress(stackset, operation_id, "DELETE", run):
            return ActionResult({"OperationId": operation_id})
        if not STACKSET_FAULTS.holding:
            run()
            return ActionResult({"OperationId": operation_id})
        # Held: RUNNING, its instances still listed (OUTDATED, detailed status RUNNING) until it ends; the removal
        # is done then.
        pending = [
            {"Account": account, "Region": region, "Status": "RUNNING", "StatusReason": ""}
            for region in preferences.get("RegionOrder") or regions
            for account in accounts
        ]
        operation: dict[str, Any] = {
            "OperationId": operation_id,
            "Action": "DELETE",
            "Status": "RUNNING",
            "RetainStacks": retain,
            "CreationTimestamp": utcnow(),
            "Instances": [{r["Account"]: r["Region"]} for r in pending],
            "Results": pending,
        }
        stackset.operations.append(operation)
        STACKSET_FAULTS.held.append((operation, lambda: run(operation)))
        return ActionResult({"OperationId": operation_id})

    def list_stack_set_operation_results(response: Any) -> Any:
        stackset = response.cloudformation_backend.describe_stack_set(response._get_param("StackSetName"))
        operation = stackset.get_operation(response._get_param("OperationId"))
        results = operation.get("Results", [])
        if operation["Status"] in ("RUNNING", "QUEUED"):
            results = [{**r, "Status": "RUNNING", "StatusReason": ""} for r in results]
        return ActionResult({"Summaries": results})

    def list_stack_instances(response: Any) -> Any:
        name = response._get_param("StackSetName")
        summaries = response.cloudformation_backend.list_stack_instances(name)
        stackset = response.cloudformation_backend.describe_stack_set(name)
        for (stackset_name, account, region), reason in failed_instances.items():
            if stackset_name == stackset.name:
                summaries.append(
                    {
                        "StackSetId": stackset.id,
                        "Account": account,
                        "Region": region,
                        "Status": "OUTDATED",
                        "StatusReason": reason,
                        "StackInstanceStatus": {
                            "DetailedStatus": "CANCELLED" if reason == CANCELLED_REASON else "FAILED"
                        },
                    }
                )
        # While an operation runs, the instances it deploys are not CURRENT yet: OUTDATED, detailed status RUNNING
        # (API reference, StackInstanceSummary and StackInstanceComprehensiveStatus).
        running = {
            (result["Account"], result["Region"])
            for operation, _ in STACKSET_FAULTS.held
            if any(operation is own for own in stackset.operations)
            for result in operation["Results"]
        }
        for summary in summaries:
            if (summary["Account"], summary["Region"]) in running:
                summary.update(Status="OUTDATED", StatusReason="", StackInstanceStatus={"DetailedStatus": "RUNNING"})
        return ActionResult({"Summaries": only_requested_instances(response, summaries)})

    original_create_stack_set = CloudFormationResponse.create_stack_set

    def create_stack_set(response: Any) -> Any:
        managed = response._get_params().get("ManagedExecution") or {}
        active = str(managed.get("Active", "false")).lower() == "true"
        STACKSET_FAULTS.managed_execution[response._get_param("StackSetName")] = active
        return original_create_stack_set(response)

    STACKSET_FAULTS.reset()
    with (
        mock.patch.object(CloudFormationResponse, "create_stack_set", create_stack_set),
        mock.patch.object(CloudFormationResponse, "create_stack_instances", create_stack_instances),
        mock.patch.object(CloudFormationResponse, "update_stack_instances", update_stack_instances),
        mock.patch.object(CloudFormationResponse, "delete_stack_instances", delete_stack_instances),
        mock.patch.object(CloudFormationResponse, "list_stack_set_operation_results", list_stack_set_operation_results),
        mock.patch.object(CloudFormationResponse, "list_stack_instances", list_stack_instances),
    ):
        yield STACKSET_FAULTS


class FakeLambdaContext:
    """The attributes of a Lambda context object that handlers and Powertools read."""

    def __init__(self, function_name: str, account_id: str, region: str) -> None:
        import uuid  # noqa: PLC0415

        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


Handler = Callable[[Any, Any], Any]


def _forget_unpublished_metrics() -> None:
    """Each emulated invocation ends with no metric values kept.

    The emulated functions run with POWERTOOLS_METRICS_DISABLED (their EMF lines would be the harness's stdout). A
    disabled flush keeps its values, and Powertools prints a metric's values once it holds 100 of them, disabled or
    not, so a long-lived process running many invocations (a test worker, the bench) would print EMF into its
    own output. The values live in state shared by every ``Metrics`` instance; clearing one instance clears them.
    """
    from aws_lambda_powertools import Metrics  # noqa: PLC0415

    Metrics(namespace="emulation").clear_metrics()


@contextmanager
def in_process_lambdas(handlers: dict[str, Handler]) -> Iterator[list[str]]:
    """Route invocations of each function name in ``handlers`` to that handler. Yields the invocation log."""
    from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: PLC0415

    original_invoke = LambdaSimpleBackend.invoke
    log: list[str] = []

    def invoke(
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> bytes | None:
        name = function_name.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        handler = handlers.get(name)
        if handler is None:
            echoed = original_invoke(self, function_name, qualifier, body, headers, response_headers)
            return echoed.encode() if isinstance(echoed, str) else echoed
        log.append(name)
        event = json.loads(body) if body else {}
        try:
            result = handler(event, FakeLambdaContext(name, self.account_id, self.region_name))
        except Exception as error:  # reported as Lambda reports an unhandled error
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}
            return json.dumps(payload).encode()
        finally:
            _forget_unpublished_metrics()
        return json.dumps(result).encode()

    with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
        yield log


def _invocation_record(function_arn: str, event: Any, error: Any, attempts: int) -> dict[str, Any]:
    """What Lambda sends to an OnFailure destination (Lambda developer guide, "Invocation record")."""
    import datetime  # noqa: PLC0415
    import uuid  # noqa: PLC0415

    return {
        "version": "1.0",
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error,
    }


def _invoke_async(function_arn: str, event: Any) -> None:
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    region = function_arn.split(":")[3]
    client: Any = boto3.session.Session().client("lambda", region_name=region)
    try:
        config = client.get_function_event_invoke_config(FunctionName=function_arn)
    except ClientError:
        config = {}
    attempts = 1 + int(config.get("MaximumRetryAttempts", 2))
    error: Any = None
    for _ in range(attempts):
        response = client.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        if "FunctionError" not in response:
            return
        error = json.loads(response["Payload"].read() or b"null")
    destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    record = json.dumps(_invocation_record(function_arn, event, error, attempts))
    if not destination:
        return
    # Lambda sends to a destination with the function's execution role (Lambda developer guide, "Adding a
    # destination": the execution role needs permission to send to it).
    role = client.get_function(FunctionName=function_arn)["Configuration"]["Role"]
    queue_url = ""
    if ":sqs:" in destination:
        # Lambda sends to the queue's ARN; the emulation needs its URL (a lookup of its own, not Lambda's call).
        _, _, _, region, account, name = destination.split(":", 5)
        lookup: Any = boto3.session.Session().client("sqs", region_name=region)
        setattr(lookup, call_log.HARNESS_CLIENT, True)
        queue_url = lookup.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    with call_log.acting_as(role, "lambda.amazonaws.com"):
        if ":sns:" in destination:
            sns: Any = boto3.session.Session().client("sns", region_name=destination.split(":")[3])
            sns.publish(TopicArn=destination, Message=record)
        elif queue_url:
            sqs: Any = boto3.session.Session().client("sqs", region_name=destination.split(":")[3])
            sqs.send_message(QueueUrl=queue_url, MessageBody=record)


def _delivery_action(target_arn: str) -> str:
    """The IAM action EventBridge needs to deliver to a target (EventBridge user guide, "Using resource-based
    policies for Amazon EventBridge": PutEvents for a bus, InvokeFunction, Publish, SendMessage)."""
    if ":event-bus/" in target_arn:
        return "events:PutEvents"
    service = target_arn.split(":")[2]
    return {"lambda": "lambda:InvokeFunction", "sns": "sns:Publish", "sqs": "sqs:SendMessage"}.get(
        service, f"{service}:Unknown"
    )


@contextmanager
def eventbridge_targets() -> Iterator[None]:
    import boto3  # noqa: PLC0415
    from moto.events import models  # noqa: PLC0415
    from moto.events.utils import EventTemplateParser  # noqa: PLC0415

    original_send = models.Rule.send_to_targets
    REFUSED_DELIVERIES.clear()

    def handled(target: Any) -> bool:
        arn = target["Arn"]
        return ":lambda:" in arn or ":sns:" in arn or ":event-bus/" in arn

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        ours = [target for target in self.targets if handled(target)]
        log = call_log.active()
        if log is not None and self.targets and self.event_pattern.matches_event(original_event):
            for target in self.targets:
                log.deliver(
                    _delivery_action(target["Arn"]), target["Arn"], self.region_name, target.get("RoleArn"), self.arn
                )
        if ours and self.event_pattern.matches_event(original_event):
            for target in ours:
                transformer: Any = target.get("InputTransformer", {}) if transform_input else {}
                event: Any = (
                    EventTemplateParser.parse(
                        input_template=transformer.get("InputTemplate"),
                        input_paths_map=transformer.get("InputPathsMap", {}),
                        event=original_event,
                    )
                    if transformer
                    else dict(original_event)
                )
                arn = target["Arn"]
                refusal = delivery_refusal(self, target)
                if refusal:
                    # AWS counts a failed invocation and, after its retries, drops the event (or dead-letters it).
                    REFUSED_DELIVERIES.append(refusal)
                    continue
                if ":event-bus/" in arn:
                    _, _, _, region, account, resource = arn.split(":", 5)
                    bus = models.events_backends[account][region].describe_event_bus(resource.split("/", 1)[1])
                    for rule in list(bus.rules.values()):
                        if rule.state == "ENABLED":
                            rule.send_to_targets(copy.deepcopy(original_event))
                elif ":sns:" in arn:
                    sns: Any = boto3.session.Session().client("sns", region_name=arn.split(":")[3])
                    sns.publish(TopicArn=arn, Message=json.dumps(event, default=str))
                else:
                    _invoke_async(arn, event)
        rest = [target for target in self.targets if not handled(target)]
        if rest:
            saved = self.targets
            self.targets = rest
            try:
                original_send(self, original_event, transform_input)
            finally:
                self.targets = saved

    with mock.patch.object(models.Rule, "send_to_targets", send_to_targets):
        yield


STEPFUNCTIONS_CLIENT_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
)


_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_CREDENTIAL_ARGUMENTS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


@contextmanager
def stepfunctions_caller_credentials() -> Iterator[None]:
    import importlib  # noqa: PLC0415

    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    config = Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1})
    # One client per service, Region and set of credentials, made from one session: a new boto3 session scans
    # botocore's data directory (about 0.1 s), which every Task and every poll of a Wait loop would pay otherwise.
    # botocore clients are thread-safe; concurrent executions share them.
    base: Any = boto3.session.Session()
    clients: dict[tuple[str, str, tuple[str | None, ...]], Any] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # As moto's own helper, but with the process's credentials (read now) instead of a fixed fake key.
        credentials = tuple(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
        key = (service, region, credentials)
        with lock:
            if key not in clients:
                explicit = dict(zip(_CREDENTIAL_ARGUMENTS, credentials, strict=True)) if all(credentials[:2]) else {}
                # Without credentials in the environment, the default chain of a fresh session (profiles, ...).
                source: Any = base if explicit else boto3.session.Session()
                clients[key] = source.client(service_name=service, region_name=region, config=config, **explicit)
                # Calls through these clients are the state machine's (its role), for the least-privilege contract.
                setattr(clients[key], call_log.STATE_MACHINE_CLIENT, True)
            return clients[key]

    with ExitStack() as stack:
        for name in STEPFUNCTIONS_CLIENT_MODULES:
            stack.enter_context(mock.patch.object(importlib.import_module(name), "boto_client_for", client_for))
        yield


@contextmanager
def instant_waits() -> Iterator[list[int]]:
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (  # noqa: PLC0415
        WaitFunction,
    )

    waits: list[int] = []

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        waits.append(int(wait_seconds))

    with mock.patch.object(WaitFunction, "_wait_interval", wait_interval):
        yield waits


EXTENSIONS: tuple[Callable[[], Any], ...] = (
    backup_policy_type,
    strict_attachments,
    backup_vault_access_policy,
    cloudformation_backup_vault,
    cloudformation_kms_key_tags,
    stackset_operations,
    stepfunctions_caller_credentials,
    eventbridge_targets,
)


@contextmanager
def aws_extensions() -> Iterator[None]:
    """Every extension at once; use inside (or around) ``moto.mock_aws``."""
    with ExitStack() as stack:
        for extension in EXTENSIONS:
            stack.enter_context(extension())
        yield


@contextmanager
def inject_errors(
    client: Any, operation: str, code: str, times: int = 1, message: str = "injected"
) -> Iterator[list[str]]:
    """Make the next ``times`` calls of ``operation`` (e.g. "CreatePolicy") on ``client`` fail with ``code``,
    as AWS would answer them: a 400 response whose error code the caller sees in ``ClientError``. Fault
    injection for tests and benchmarks, not a moto gap. Yields the list of codes raised so far."""
    raised: list[str] = []
    service = client.meta.service_model.service_id.hyphenize()
    event = f"before-call.{service}.{operation}"

    def fail(**_: Any) -> Any:
        if len(raised) >= times:
            return None
        raised.append(code)
        status = 429 if "Throttl" in code or "TooManyRequests" in code else 400
        response = type("InjectedResponse", (), {"status_code": status, "headers": {}})()
        return response, {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(event, fail)
    try:
        yield raised
    finally:
        client.meta.events.unregister(event, fail)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures, not gap closures: moto draws organization, root, OU and account IDs at random; the samples in events/
# name fixed ones. These give the emulated organization the IDs a test or the local run asks for.


def _organization_backend() -> Any:
    from moto.organizations.models import organizations_backends  # noqa: PLC0415

    for by_partition in organizations_backends.values():
        for backend in by_partition.values():
            if backend.org is not None:
                return backend
    raise RuntimeError("no emulated organization: call create_organization first")


def set_organization_ids(organization_id: str, root_id: str) -> None:
    backend = _organization_backend()
    root = backend.ou[0]
    backend.org.id = organization_id
    backend.org.root_id = root_id
    root.id = root_id
    for item in [*backend.ou, *backend.accounts]:
        item.organization_id = organization_id
        if getattr(item, "parent_id", None) and item is not root:
            item.parent_id = root_id


def rename_ou(current_id: str, new_id: str) -> None:
    backend = _organization_backend()
    for item in [*backend.ou, *backend.accounts]:
        if item.id == current_id:
            item.id = new_id
        if getattr(item, "parent_id", None) == current_id:
            item.parent_id = new_id


def rename_account(current_id: str, new_id: str, state: str = "ACTIVE") -> None:
    """Give an account a fixed ID and a state (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED)."""
    from moto.organizations.models import organizations_backends  # noqa: PLC0415

    backend = _organization_backend()
    account = next(item for item in backend.accounts if item.id == current_id)
    account.id = new_id
    account.state = state
    # The older Status has ACTIVE, SUSPENDED and PENDING_CLOSURE only (API reference, Account):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_Account.html
    account.status = {"PENDING_CLOSURE": "PENDING_CLOSURE", "SUSPENDED": "SUSPENDED", "CLOSED": "SUSPENDED"}.get(
        state, "ACTIVE"
    )
    if current_id in organizations_backends.master_accounts:
        organizations_backends.master_accounts[new_id] = organizations_backends.master_accounts.pop(current_id)


# ---------------------------------------------------------------------------------------------------------------
# Read APIs `orgbackup doctor` needs and moto 5.2 lacks (issue 15). Each behaves as its API reference documents;
# the state they read is set with the functions below (what an administrator would have done in the console).
# Their tests: tests/integration/test_emulation_doctor.py. ``aws_extensions()`` applies them with the others.
#
# AWS Backup (API reference: DescribeGlobalSettings, UpdateGlobalSettings)
# - ``backup_global_settings``: moto answers "Not yet implemented". AWS keeps the flags isCrossAccountBackupEnabled,
#   isMpaEnabled and isDelegatedAdministratorEnabled (strings "true"/"false"), off until the management account turns
#   them on; Describe "returns an error if the account is not a member of an Organizations organization" and Update
#   "returns an error if the account is not an Organizations management account" (InvalidRequestException, the error
#   both operations list; the reference does not name the code for these two cases).
#   https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeGlobalSettings.html
# AWS Account Management (API reference: GetRegionOptStatus; user guide: "Enable or disable AWS Regions")
# - ``account_region_opt_status``: moto has no Region opt-in API. Regions launched before March 20, 2019 are
#   ENABLED_BY_DEFAULT; the later, opt-in Regions are DISABLED until enabled per account. With ``AccountId`` the
#   caller must be the management account, the account a member of the same organization, and the organization must
#   have trusted access for account.amazonaws.com (AccessDeniedException otherwise); the management account cannot
#   name itself (ValidationException here: the reference does not name the code).
#   https://docs.aws.amazon.com/accounts/latest/reference/API_GetRegionOptStatus.html
#   https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html
# AWS Control Tower (API reference: ListEnabledBaselines, EnabledBaselineFilter; user guide: "Types of baselines")
# - ``control_tower_baselines``: moto has no Control Tower. AWS lists EnabledBaseline summaries (arn,
#   baselineIdentifier, baselineVersion, targetIdentifier, parentIdentifier, statusSummary.status SUCCEEDED | FAILED |
#   UNDER_CHANGE), filtered by ``targetIdentifiers`` (ARNs, 1-5 items); child enabled baselines (the accounts of a
#   registered OU, whose parentIdentifier is the OU's enabled baseline) only with ``includeChildren``. Registering an
#   OU enables AWSControlTowerBaseline on it. https://docs.aws.amazon.com/controltower/latest/APIReference/API_ListEnabledBaselines.html

# Opt-in Regions (launched after March 20, 2019), from the AWS Regions table of the Regions and Availability Zones
# guide (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html).
OPT_IN_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-south-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-west-1",
        "eu-central-2",
        "eu-south-1",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
    }
)
BACKUP_GLOBAL_SETTING_NAMES = ("isCrossAccountBackupEnabled", "isMpaEnabled", "isDelegatedAdministratorEnabled")
CONTROL_TOWER_BASELINE = "arn:aws:controltower:us-east-1::baseline/17BSJV3IGJ2QSGA2"  # AWSControlTowerBaseline


class _DoctorState:
    """What the administrator set: Backup global settings and Region opt-ins per account, enabled baselines."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.backup_settings: dict[str, dict[str, str]] = {}
        self.region_status: dict[tuple[str, str], str] = {}
        self.enabled_baselines: list[dict[str, Any]] = []


DOCTOR_STATE = _DoctorState()


def set_backup_global_setting(account_id: str, name: str, value: bool) -> None:
    DOCTOR_STATE.backup_settings.setdefault(account_id, {})[name] = "true" if value else "false"


def set_region_opt_status(account_id: str, region: str, status: str) -> None:
    """ENABLED | ENABLING | DISABLING | DISABLED for an opt-in Region of one account."""
    DOCTOR_STATE.region_status[(account_id, region)] = status


def enable_baseline(target_arn: str, parent_arn: str | None = None, status: str = "SUCCEEDED") -> str:
    """Record an enabled AWSControlTowerBaseline on an OU (``parent_arn`` None) or, as its child, on an account."""
    import uuid  # noqa: PLC0415

    arn = f"arn:aws:controltower:us-east-1:{_organization_backend().org.master_account_id}:enabledbaseline/"
    arn += uuid.uuid4().hex[:17].upper()
    summary: dict[str, Any] = {
        "arn": arn,
        "baselineIdentifier": CONTROL_TOWER_BASELINE,
        "baselineVersion": "4.0",
        "targetIdentifier": target_arn,
        "statusSummary": {"status": status},
    }
    if parent_arn:
        summary["parentIdentifier"] = parent_arn
    DOCTOR_STATE.enabled_baselines.append(summary)
    return arn


def _organization_or_none() -> Any:
    try:
        return _organization_backend()
    except RuntimeError:
        return None


@contextmanager
def backup_global_settings() -> Iterator[None]:
    from moto.backup import urls  # noqa: PLC0415
    from moto.backup.exceptions import InvalidRequestException  # noqa: PLC0415
    from moto.backup.responses import BackupResponse  # noqa: PLC0415

    def describe(response: Any) -> str:
        backend = _organization_or_none()
        members = {account.id for account in backend.accounts} if backend else set()
        if response.current_account not in members:
            raise InvalidRequestException(f"Account {response.current_account} is not a member of an organization")
        stored = DOCTOR_STATE.backup_settings.get(response.current_account, {})
        settings = {name: stored.get(name, "false") for name in BACKUP_GLOBAL_SETTING_NAMES}
        return json.dumps({"GlobalSettings": settings})

    def update(response: Any) -> str:
        backend = _organization_or_none()
        if backend is None or backend.org.master_account_id != response.current_account:
            raise InvalidRequestException(
                f"Account {response.current_account} is not an Organizations management account"
            )
        for name, value in (json.loads(response.body or "{}").get("GlobalSettings") or {}).items():
            set_backup_global_setting(response.current_account, name, str(value).lower() == "true")
        return "{}"

    with (
        mock.patch.dict(urls.url_paths, {"{0}/global-settings$": urls.response.dispatch}),
        mock.patch.object(BackupResponse, "describe_global_settings", describe, create=True),
        mock.patch.object(BackupResponse, "update_global_settings", update, create=True),
    ):
        yield


def _account_error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415

    return JsonRESTError(code, message)


def _region_opt_status(caller: str, body: dict[str, Any]) -> str:
    region = body.get("RegionName", "")
    account = body.get("AccountId")
    if account:
        backend = _organization_or_none()
        if backend is None or backend.org.master_account_id != caller:
            raise _account_error("AccessDeniedException", "AccountId may be given only by the management account")
        if account == caller:
            raise _account_error("ValidationException", "The management account can't specify its own AccountId")
        if account not in {item.id for item in backend.accounts}:
            raise _account_error("AccessDeniedException", f"Account {account} is not a member of the organization")
        if not any(item["ServicePrincipal"] == "account.amazonaws.com" for item in backend.services):
            raise _account_error(
                "AccessDeniedException", "Trusted access for AWS Account Management is not enabled in the organization"
            )
    import boto3  # noqa: PLC0415

    if region not in boto3.session.Session().get_available_regions("ec2"):
        raise _account_error("ValidationException", f"{region!r} is not a Region name")
    if region not in OPT_IN_REGIONS:
        return "ENABLED_BY_DEFAULT"
    return DOCTOR_STATE.region_status.get((account or caller, region), "DISABLED")


@contextmanager
def account_region_opt_status() -> Iterator[None]:
    from moto.account import urls  # noqa: PLC0415
    from moto.account.responses import AccountResponse  # noqa: PLC0415

    def get_region_opt_status(response: Any) -> str:
        body = json.loads(response.body or "{}")
        status = _region_opt_status(response.current_account, body)
        return json.dumps({"RegionName": body.get("RegionName"), "RegionOptStatus": status})

    with (
        mock.patch.dict(urls.url_paths, {"{0}/getRegionOptStatus$": AccountResponse.dispatch}),
        mock.patch.object(AccountResponse, "get_region_opt_status", get_region_opt_status, create=True),
    ):
        yield


def _list_enabled_baselines(body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    targets = (body.get("filter") or {}).get("targetIdentifiers")
    if targets is not None and not 1 <= len(targets) <= 5:
        message = "filter.targetIdentifiers must hold 1 to 5 items"
        return 400, {"x-amzn-errortype": "ValidationException"}, json.dumps({"message": message})
    found = [
        summary
        for summary in DOCTOR_STATE.enabled_baselines
        if (targets is None or summary["targetIdentifier"] in targets)
        and (body.get("includeChildren") or "parentIdentifier" not in summary)
    ]
    return 200, {"content-type": "application/json"}, json.dumps({"enabledBaselines": copy.deepcopy(found)})


@contextmanager
def control_tower_baselines() -> Iterator[None]:
    import re  # noqa: PLC0415

    from moto.core.botocore_stubber import BotocoreStubber  # noqa: PLC0415

    original = BotocoreStubber.process_request
    route = re.compile(r"https?://controltower\.[a-z0-9-]+\.amazonaws\.com/list-enabled-baselines$")

    def process_request(self: Any, request: Any) -> Any:
        if route.match(request.url.split("?")[0]):
            body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "{}")
            return _list_enabled_baselines(json.loads(body or "{}"))
        return original(self, request)

    with mock.patch.object(BotocoreStubber, "process_request", process_request):
        yield


@contextmanager
def doctor_reads() -> Iterator[_DoctorState]:
    """The three extensions above, on a fresh state (what ``World`` and the doctor tests use)."""
    DOCTOR_STATE.reset()
    with backup_global_settings(), account_region_opt_status(), control_tower_baselines():
        yield DOCTOR_STATE


EXTENSIONS = (*EXTENSIONS, doctor_reads)
# Coverage report (issue 13): AWS Backup's cross-account job monitoring and Organizations' effective backup policy.
#
# AWS Backup (API reference: ListBackupJobs, ListCopyJobs, ListRestoreJobs; Developer Guide, *Managing AWS Backup
# resources across multiple AWS accounts*)
# - ``backup_job_monitoring``: moto keeps no jobs and has none of the three listings. ``BACKUP_JOBS.record(...)``
#   adds a job as AWS Backup would have run it in an account and Region; the listings answer as AWS documents:
#   jobs of the last 30 days ("for the last 30 days"), of the caller's own account, or, for the organization's
#   management account (cross-account monitoring, trusted access for AWS Backup), of the account named by
#   ``ByAccountId``; filtered by ``ByCreatedAfter``/``ByCreatedBefore``, ``ByState`` (restore jobs: ``ByStatus``)
#   and ``ByRestoreTestingPlanArn``; dates as epoch seconds (the REST-JSON protocol's default). A member account
#   that names another account gets nothing (the guide grants the cross-account view to the management account;
#   the safe reading). Results come in one page.
#
# Organizations (API reference: DescribeEffectivePolicy; User Guide, *Understanding management policy inheritance*)
# - ``effective_backup_policy``: moto has no DescribeEffectivePolicy. For an account (a root or OU as TargetId is
#   "not supported": InvalidInputException) the backup policies attached to the root, each OU on the way down and
#   the account are merged, parent first: objects merge key by key, ``@@assign`` replaces the inherited value,
#   ``@@operators_allowed_for_child_policies`` is dropped, and the result carries no operators. ``@@append`` and
#   ``@@remove`` are not modelled (this product's policies use ``@@assign`` only): such a policy raises
#   NotImplementedError rather than a wrong merge. No backup policy on the path: EffectivePolicyNotFoundException;
#   an unknown account: TargetNotFoundException. Other policy types: NotImplementedError.

JOB_LISTING_DAYS = 30


class BackupJobLedger:
    """The jobs AWS Backup ran, by account and Region (what its job listings read)."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []

    def reset(self) -> None:
        self.jobs.clear()

    def record(self, kind: str, account_id: str, region: str, state: str, **fields: Any) -> dict[str, Any]:
        """Add one job (``kind`` backup, copy or restore). ``fields`` are the listing's own member names
        (``CreationDate``, ``CompletionDate`` as datetimes, ``StatusMessage``, ``ResourceArn``,
        ``DestinationBackupVaultArn``, ``CreatedBy``, ...)."""
        import uuid  # noqa: PLC0415
        from datetime import UTC, datetime  # noqa: PLC0415

        if kind not in ("backup", "copy", "restore"):
            raise ValueError(f"kind {kind!r}: must be backup, copy or restore")
        id_key, state_key = {"backup": ("BackupJobId", "State"), "copy": ("CopyJobId", "State")}.get(
            kind, ("RestoreJobId", "Status")
        )
        job = {
            "kind": kind,
            "Region": region,
            "AccountId": account_id,
            id_key: fields.pop(id_key, str(uuid.uuid4()).upper()),
            state_key: state,
            "CreationDate": fields.pop("CreationDate", datetime.now(UTC)),
            **fields,
        }
        self.jobs.append(job)
        return job


BACKUP_JOBS = BackupJobLedger()


def _query_time(values: Any) -> Any:
    from datetime import UTC, datetime  # noqa: PLC0415

    if not values:
        return None
    text = values[0] if isinstance(values, list) else values
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _manages(caller: str, account_id: str) -> bool:
    """Whether ``caller`` is the management account of ``account_id``'s organization."""
    from moto.organizations.models import organizations_backends  # noqa: PLC0415

    return bool(organizations_backends.master_accounts.get(account_id, ("",))[0] == caller)


@contextmanager
def backup_job_monitoring() -> Iterator[BackupJobLedger]:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    from moto.backup import urls  # noqa: PLC0415
    from moto.backup.responses import BackupResponse  # noqa: PLC0415

    def listing(kind: str, key: str, state_param: str, state_key: str) -> Callable[[Any], str]:
        def answer(response: Any) -> str:
            query = response.querystring
            caller = response.current_account
            named = (query.get("accountId") or [None])[0]
            if named is None:
                account = caller
            elif named == caller or _manages(caller, named):
                account = named
            else:
                account = None
            after, before = _query_time(query.get("createdAfter")), _query_time(query.get("createdBefore"))
            state = (query.get(state_param) or [None])[0]
            plan = (query.get("restoreTestingPlanArn") or [None])[0]
            oldest = datetime.now(UTC) - timedelta(days=JOB_LISTING_DAYS)
            found = []
            for job in BACKUP_JOBS.jobs:
                created = job["CreationDate"]
                if (
                    job["kind"] != kind
                    or job["AccountId"] != account
                    or job["Region"] != response.region
                    or created < oldest
                    or (after and created < after)
                    or (before and created > before)
                    or (state and job[state_key] != state)
                    or (plan and (job.get("CreatedBy") or {}).get("RestoreTestingPlanArn") != plan)
                ):
                    continue
                member = {k: v for k, v in job.items() if k not in ("kind", "Region")}
                found.append({k: v.timestamp() if isinstance(v, datetime) else v for k, v in member.items()})
            return json.dumps({key: found})

        return answer

    routes = {
        "{0}/backup-jobs/?$": urls.response.dispatch,
        "{0}/copy-jobs/?$": urls.response.dispatch,
        "{0}/restore-jobs/?$": urls.response.dispatch,
    }
    with (
        mock.patch.dict(urls.url_paths, routes),
        mock.patch.object(
            BackupResponse, "list_backup_jobs", listing("backup", "BackupJobs", "state", "State"), create=True
        ),
        mock.patch.object(BackupResponse, "list_copy_jobs", listing("copy", "CopyJobs", "state", "State"), create=True),
        mock.patch.object(
            BackupResponse, "list_restore_jobs", listing("restore", "RestoreJobs", "status", "Status"), create=True
        ),
    ):
        # The ledger lives as long as the emulation: a new one starts empty.
        BACKUP_JOBS.reset()
        try:
            yield BACKUP_JOBS
        finally:
            BACKUP_JOBS.reset()


def _merge_backup_policy(inherited: Any, child: Any, path: str) -> Any:
    if isinstance(child, dict):
        for operator in ("@@append", "@@remove"):
            if operator in child:
                raise NotImplementedError(f"{path}: {operator} is not modelled by the emulation")
        if "@@assign" in child:
            return copy.deepcopy(child["@@assign"])
        merged = dict(inherited) if isinstance(inherited, dict) else {}
        for key, value in child.items():
            if key == "@@operators_allowed_for_child_policies":
                continue
            merged[key] = _merge_backup_policy(merged.get(key), value, f"{path}.{key}")
        return merged
    return copy.deepcopy(child)


@contextmanager
def effective_backup_policy() -> Iterator[None]:
    from datetime import UTC, datetime  # noqa: PLC0415

    from moto.organizations.responses import OrganizationsResponse  # noqa: PLC0415

    def describe_effective_policy(response: Any) -> str:
        body = json.loads(response.body or "{}")
        policy_type, target_id = body.get("PolicyType"), str(body.get("TargetId", ""))
        if policy_type != BACKUP_POLICY:
            raise NotImplementedError(f"DescribeEffectivePolicy for {policy_type} is not emulated")
        if not target_id.isdigit():
            raise _org_error("InvalidInputException", "You specified an invalid value: TargetId must be an account")
        backend = _organization_backend()
        account = next((item for item in backend.accounts if item.id == target_id), None)
        if account is None:
            raise _org_error("TargetNotFoundException", "You specified a target that doesn't exist.")
        chain: list[Any] = [account]
        parent_id = account.parent_id
        while parent_id:
            node = next((ou for ou in backend.ou if ou.id == parent_id), None)
            if node is None:
                break
            chain.append(node)
            parent_id = getattr(node, "parent_id", None) if node.id != backend.org.root_id else None
        effective: Any = None
        for target in reversed(chain):
            for policy in target.attached_policies:
                if policy.type == BACKUP_POLICY:
                    effective = _merge_backup_policy(effective, json.loads(policy.content), policy.id)
        if effective is None:
            raise _org_error("EffectivePolicyNotFoundException", "We can't find an effective policy of that type.")
        return json.dumps(
            {
                "EffectivePolicy": {
                    "PolicyContent": json.dumps(effective, separators=(",", ":")),
                    "LastUpdatedTimestamp": datetime.now(UTC).timestamp(),
                    "TargetId": target_id,
                    "PolicyType": BACKUP_POLICY,
                }
            }
        )

    with mock.patch.object(OrganizationsResponse, "describe_effective_policy", describe_effective_policy, create=True):
        yield


EXTENSIONS = (*EXTENSIONS, backup_job_monitoring, effective_backup_policy)


# ---------------------------------------------------------------------------------------------------------------
# AWS Backup recovery points and copy jobs (API reference: StartCopyJob, DescribeCopyJob, DescribeRecoveryPoint,
# ListRecoveryPointsByBackupVault; Developer Guide: "Creating backup copies across AWS accounts", "Vault access
# policies", "Encryption for backups in AWS Backup", "Copy a backup").
#
# ``backup_copy_jobs``: moto 5.2 has no recovery points and no copy jobs at all ("Not yet implemented"), so it
# cannot say whether a copy would happen. AWS:
# - keeps recovery points per vault (DescribeRecoveryPoint, ListRecoveryPointsByBackupVault; an unknown vault or
#   recovery point is ``ResourceNotFoundException``);
# - StartCopyJob runs in the account and Region of the SOURCE vault: an unknown source vault or recovery point is
#   ``ResourceNotFoundException``, a malformed ``DestinationBackupVaultArn`` or ``IamRoleArn``
#   ``InvalidParameterValueException``; the job then runs asynchronously and is read with DescribeCopyJob
#   (``CREATED`` -> ``RUNNING`` -> ``COMPLETED`` | ``FAILED`` with a ``StatusMessage``). Here each DescribeCopyJob
#   moves a job one state on, so a caller that polls sees the states AWS reports without time passing.
# - the copy FAILS when: the role does not exist in the source account; the destination vault does not exist; for a
#   copy to another account, the two accounts are not in one organization ("Both source and destination account must
#   be a member of the same organization", https://repost.aws/knowledge-center/backup-troubleshoot-cross-account-copy),
#   the destination vault's access policy does not allow ``backup:CopyIntoBackupVault``
#   to the source account (an explicit Deny wins; "Creating backup copies across AWS accounts"), or the recovery
#   point's customer managed key does not let the destination account use it ("Given key ID is not accessible",
#   https://repost.aws/knowledge-center/backup-cross-account-copy-error); or the copy breaks a rule of
#   ``orgbackup/protection/copy_rules.json`` for the resource type (no copy of the type to another account or
#   Region, both in one step for RDS/Aurora, an AWS managed source key across accounts).
# - a completed copy is a recovery point in the destination vault, encrypted with the destination vault's key
#   ("AWS Backup re-encrypts your copy using the customer managed key of your destination vault"), with the
#   resource's ARN and type and the source vault as ``SourceBackupVaultArn``.
# Policies are evaluated by ``orgbackup.protection.access.policy_allows`` (what it knows of IAM's logic is documented
# there); the principals' organization and organization paths come from the emulated organization. The principal of
# a copy into another account's vault is the job's role in the source account, so a Deny on ``aws:PrincipalAccount``
# (the central vault's organization form denies the excluded accounts so) refuses it even where an Allow by
# ``aws:PrincipalOrgPaths`` or ``aws:PrincipalOrgID`` matches (tests/integration/test_emulation_copy_jobs.py).
# ``add_recovery_point`` is a fixture, not a gap closure: it leaves what a finished backup job leaves.

COPY_INTO: Final = "backup:CopyIntoBackupVault"
_BACKUP_SERVICE_ROLE = "role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup"


def _backup_backend(account_id: str, region: str) -> Any:
    from moto.backup.models import backup_backends  # noqa: PLC0415

    return backup_backends[account_id][region]


def _store(backend: Any, name: str) -> dict[str, Any]:
    store: dict[str, Any] = backend.__dict__.setdefault(f"_orgbackup_{name}", {})
    return store


def _backup_error(code: str, message: str) -> Exception:
    from moto.backup import exceptions  # noqa: PLC0415

    cls = getattr(exceptions, code, None)
    if cls is not None:
        return cls(message)  # type: ignore[no-any-return]
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415

    return JsonRESTError(code, message)


def _org_facts(account_id: str) -> tuple[str | None, list[str]]:
    """The account's organization ID and its aws:PrincipalOrgPaths value (o-.../r-.../ou-.../), if it is in one."""
    try:
        backend = _organization_backend()
    except RuntimeError:
        return None, []
    by_id = {item.id: item for item in [*backend.ou, *backend.accounts]}
    if account_id not in by_id:
        return None, []
    chain: list[str] = []
    parent = getattr(by_id[account_id], "parent_id", None)
    while parent and parent in by_id:
        chain.append(parent)
        parent = getattr(by_id[parent], "parent_id", None)
    path = "/".join([backend.org.id, *reversed(chain)]) + "/"
    return backend.org.id, [path]


def _principal(account_id: str, arn: str, region: str) -> Any:
    from orgbackup.protection.access import Principal  # noqa: PLC0415

    org_id, org_paths = _org_facts(account_id)
    return Principal(account_id, arn, region, org_id, tuple(org_paths))


def add_recovery_point(
    account_id: str,
    region: str,
    vault_name: str,
    *,
    resource_arn: str,
    resource_type: str,
    encryption_key_arn: str | None = None,
    key_manager: str | None = None,
    recovery_point_arn: str | None = None,
    source_vault_arn: str | None = None,
) -> str:
    """A COMPLETED recovery point in a vault, as a finished backup (or copy) job leaves it; returns its ARN.
    ``encryption_key_arn`` defaults to the vault's key; ``key_manager`` (AWS or CUSTOMER) defaults to the key's
    own in the emulated KMS, else CUSTOMER."""
    import uuid  # noqa: PLC0415

    vault = _vault(account_id, region, vault_name)
    arn = recovery_point_arn or _copy_arn(account_id, region, resource_type, uuid.uuid4().hex)
    key_arn = encryption_key_arn or vault.encryption_key_arn
    _store(_backup_backend(account_id, region), "recovery_points").setdefault(vault_name, {})[arn] = {
        "RecoveryPointArn": arn,
        "BackupVaultName": vault_name,
        "BackupVaultArn": vault.backup_vault_arn,
        "SourceBackupVaultArn": source_vault_arn,
        "ResourceArn": resource_arn,
        "ResourceType": resource_type,
        "Status": "COMPLETED",
        "CreationDate": time.time(),
        "CompletionDate": time.time(),
        "EncryptionKeyArn": key_arn,
        "IsEncrypted": bool(key_arn),
        "KeyManager": key_manager or _key_manager(key_arn) or "CUSTOMER",
    }
    vault.num_of_recovery_points += 1
    return arn


def recovery_points(account_id: str, region: str, vault_name: str) -> dict[str, dict[str, Any]]:
    """The recovery points of a vault by ARN (for reports and assertions)."""
    _vault(account_id, region, vault_name)
    points: dict[str, dict[str, Any]] = _store(_backup_backend(account_id, region), "recovery_points").get(
        vault_name, {}
    )
    return points


def _copy_arn(account_id: str, region: str, resource_type: str, token: str) -> str:
    """Recovery point ARNs in the forms AWS Backup reports them: the service's snapshot or image for the types whose
    backups are that service's snapshots, an AWS Backup recovery point for the others."""
    partition = "aws"
    if resource_type == "EBS":
        return f"arn:{partition}:ec2:{region}::snapshot/snap-{token[:17]}"
    if resource_type == "EC2":
        return f"arn:{partition}:ec2:{region}::image/ami-{token[:17]}"
    if resource_type == "RDS":
        return f"arn:{partition}:rds:{region}:{account_id}:snapshot:awsbackup:job-{token}"
    if resource_type in ("Aurora", "DocumentDB", "Neptune"):
        return f"arn:{partition}:rds:{region}:{account_id}:cluster-snapshot:awsbackup:job-{token}"
    return f"arn:{partition}:backup:{region}:{account_id}:recovery-point:{token}"


def _kms_key(key_arn: str | None) -> Any:
    from moto.kms.models import kms_backends  # noqa: PLC0415

    parts = (key_arn or "").split(":")
    if len(parts) != 6 or not parts[5].startswith("key/"):
        return None
    return kms_backends[parts[4]][parts[3]].keys.get(parts[5].removeprefix("key/"))


def _key_manager(key_arn: str | None) -> str | None:
    if key_arn and ":alias/aws/" in key_arn:
        return "AWS"
    key = _kms_key(key_arn)
    return str(key.key_manager) if key is not None else None


def _copy_failure(job: dict[str, Any], point: dict[str, Any]) -> str | None:
    """Why AWS Backup would fail this copy job, or None."""
    from moto.backup.exceptions import ResourceNotFoundException  # noqa: PLC0415
    from moto.iam.models import iam_backends  # noqa: PLC0415

    from orgbackup.protection.access import policy_allows  # noqa: PLC0415
    from orgbackup.protection.rules import load_rule_book  # noqa: PLC0415

    source_account, source_region = job["AccountId"], job["_region"]
    role_arn = job["IamRoleArn"]
    role_name = role_arn.split(":role/", 1)[-1].rsplit("/", 1)[-1]
    roles = {role.name for role in iam_backends[source_account]["global"].roles.values()}
    if role_arn.split(":")[4] != source_account or role_name not in roles:
        return f"IAM role {role_arn} cannot be assumed by AWS Backup in account {source_account}"
    target = job["DestinationBackupVaultArn"].split(":")
    target_region, target_account, target_name = target[3], target[4], target[6]
    try:
        destination = _vault(target_account, target_region, target_name)
    except ResourceNotFoundException:
        return f"Backup vault {job['DestinationBackupVaultArn']} does not exist"
    cross_account = target_account != source_account
    cross_region = target_region != source_region
    book = load_rule_book()
    if point["ResourceType"] in book.types:
        verdict = book.judge_copy(
            point["ResourceType"],
            cross_account=cross_account,
            cross_region=cross_region,
            key_manager=point.get("KeyManager"),
            target_account=target_account,
        )
        if verdict.status == "refused":
            return "; ".join(reason.text for reason in verdict.reasons)
    if not cross_account:
        return None
    source_org, target_org = _org_facts(source_account)[0], _org_facts(target_account)[0]
    if source_org is None or source_org != target_org:
        # https://repost.aws/knowledge-center/backup-troubleshoot-cross-account-copy
        return "Copy job failed. Both source and destination account must be a member of the same organization"
    caller = _principal(source_account, role_arn, target_region)
    allowed, why = policy_allows(getattr(destination, "access_policy", None), COPY_INTO, caller)
    if not allowed:
        return (
            f"Access denied: the access policy of destination vault {destination.backup_vault_arn} does not allow "
            f"{COPY_INTO} from account {source_account} ({why})"
        )
    key = _kms_key(point.get("EncryptionKeyArn"))
    if key is not None:
        user = _principal(target_account, f"arn:aws:iam::{target_account}:{_BACKUP_SERVICE_ROLE}", source_region)
        for action in ("kms:Decrypt", "kms:CreateGrant"):
            allowed, why = policy_allows(key.policy, action, user)
            if not allowed:
                return (
                    f"Given key ID is not accessible: the policy of key {point['EncryptionKeyArn']} does not allow "
                    f"{action} to account {target_account} ({why})"
                )
    return None


def _finish_copy(job: dict[str, Any]) -> None:
    import uuid  # noqa: PLC0415

    source_account, source_region = job["AccountId"], job["_region"]
    point = recovery_points(source_account, source_region, job["_source_vault"])[job["SourceRecoveryPointArn"]]
    failure = _copy_failure(job, point)
    job["CompletionDate"] = time.time()
    if failure:
        job.update(State="FAILED", StatusMessage=failure)
        return
    target = job["DestinationBackupVaultArn"].split(":")
    target_region, target_account, target_name = target[3], target[4], target[6]
    destination = _vault(target_account, target_region, target_name)
    arn = add_recovery_point(
        target_account,
        target_region,
        target_name,
        resource_arn=point["ResourceArn"],
        resource_type=point["ResourceType"],
        encryption_key_arn=destination.encryption_key_arn,
        recovery_point_arn=_copy_arn(target_account, target_region, point["ResourceType"], uuid.uuid4().hex),
        source_vault_arn=job["SourceBackupVaultArn"],
    )
    job.update(
        State="COMPLETED", DestinationRecoveryPointArn=arn, DestinationEncryptionKeyArn=destination.encryption_key_arn
    )


_VAULT_ARN = re.compile(r"arn:aws[a-z-]*:backup:[a-z0-9-]+:\d{12}:backup-vault:[a-zA-Z0-9\-_]{2,50}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


@contextmanager
def backup_copy_jobs() -> Iterator[None]:
    import uuid  # noqa: PLC0415
    from urllib.parse import unquote  # noqa: PLC0415

    from moto.backup import urls  # noqa: PLC0415
    from moto.backup.responses import BackupResponse  # noqa: PLC0415

    def public(record: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in record.items() if not key.startswith("_") and value is not None}

    def point_route(response: Any) -> tuple[str, str | None]:
        tail = unquote(response.path).split("/backup-vaults/", 1)[1]
        name, _, rest = tail.partition("/recovery-points/")
        return name, (rest or None)

    def describe_recovery_point(response: Any) -> str:
        name, arn = point_route(response)
        points = recovery_points(response.current_account, response.region, name)
        if arn not in points:
            raise _backup_error("ResourceNotFoundException", f"Recovery point {arn} not found in vault {name}")
        return json.dumps({key: value for key, value in points[arn].items() if key != "KeyManager"})

    def list_recovery_points(response: Any) -> str:
        name, _ = point_route(response)
        points = recovery_points(response.current_account, response.region, name)
        listed = [{key: value for key, value in p.items() if key != "KeyManager"} for p in points.values()]
        return json.dumps({"RecoveryPoints": listed})

    def start_copy_job(response: Any) -> str:
        body = json.loads(response.body or "{}")
        account, region = response.current_account, response.region
        name = body.get("SourceBackupVaultName", "")
        points = recovery_points(account, region, name)
        arn = body.get("RecoveryPointArn", "")
        if arn not in points:
            raise _backup_error("ResourceNotFoundException", f"Recovery point {arn} not found in vault {name}")
        if not _VAULT_ARN.fullmatch(body.get("DestinationBackupVaultArn", "")):
            raise _backup_error(
                "InvalidParameterValueException",
                f"DestinationBackupVaultArn {body.get('DestinationBackupVaultArn')!r} is not a backup vault ARN",
            )
        if not _ROLE_ARN.fullmatch(body.get("IamRoleArn", "")):
            raise _backup_error(
                "InvalidParameterValueException", f"IamRoleArn {body.get('IamRoleArn')!r} is not a role ARN"
            )
        job_id = str(uuid.uuid4()).upper()
        point = points[arn]
        _store(_backup_backend(account, region), "copy_jobs")[job_id] = {
            "AccountId": account,
            "CopyJobId": job_id,
            "SourceBackupVaultArn": point["BackupVaultArn"],
            "SourceRecoveryPointArn": arn,
            "DestinationBackupVaultArn": body["DestinationBackupVaultArn"],
            "ResourceArn": point["ResourceArn"],
            "ResourceType": point["ResourceType"],
            "IamRoleArn": body["IamRoleArn"],
            "CreationDate": time.time(),
            "State": "CREATED",
            "_region": region,
            "_source_vault": name,
        }
        return json.dumps({"CopyJobId": job_id, "CreationDate": time.time(), "IsParent": False})

    def describe_copy_job(response: Any) -> str:
        job_id = unquote(response.path).rstrip("/").rsplit("/", 1)[-1]
        job = _store(_backup_backend(response.current_account, response.region), "copy_jobs").get(job_id)
        if job is None:
            raise _backup_error("ResourceNotFoundException", f"Copy job {job_id} not found")
        reported = public(job)
        if job["State"] == "CREATED":
            job["State"] = "RUNNING"
        elif job["State"] == "RUNNING":
            _finish_copy(job)
        return json.dumps({"CopyJob": reported})

    routes = {
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/?$": urls.response.dispatch,
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<arn>.+)$": urls.response.dispatch,
        "{0}/copy-jobs/?$": urls.response.dispatch,
        "{0}/copy-jobs/(?P<job>[^/]+)$": urls.response.dispatch,
    }
    with (
        mock.patch.dict(urls.url_paths, routes),
        mock.patch.object(BackupResponse, "describe_recovery_point", describe_recovery_point, create=True),
        mock.patch.object(BackupResponse, "list_recovery_points_by_backup_vault", list_recovery_points, create=True),
        mock.patch.object(BackupResponse, "start_copy_job", start_copy_job, create=True),
        mock.patch.object(BackupResponse, "describe_copy_job", describe_copy_job, create=True),
    ):
        yield


# CloudFormation (resource reference: AWS::KMS::Key, KeyPolicy "Type: Json"; KMS API reference: GetKeyPolicy)
# ``cloudformation_kms_key_policy``: moto's CloudFormation hands an AWS::KMS::Key's ``KeyPolicy`` object to KMS as a
# Python dict, so GetKeyPolicy answers that object instead of the JSON string its API shape says. AWS stores the
# policy as a JSON document and GetKeyPolicy returns that JSON text.
@contextmanager
def cloudformation_kms_key_policy() -> Iterator[None]:
    from moto.kms.models import Key  # noqa: PLC0415

    original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    with mock.patch.object(Key, "create_from_cloudformation_json", classmethod(create)):
        yield


EXTENSIONS = (*EXTENSIONS, backup_copy_jobs, cloudformation_kms_key_policy)


# ---------------------------------------------------------------------------------------------------------------
# Removal: deleting vaults and stack instances as AWS does (security review, issue 10, finding 5)
#
# AWS Backup (API reference: DeleteBackupVault; developer guide: "Deleting a backup vault", "Vault access policies")
# - ``backup_vault_deletion``: moto deletes any vault. AWS refuses a vault that holds recovery points ("A vault can
#   be deleted only if it is empty": ``InvalidRequestException``), and a vault whose access policy denies
#   ``backup:DeleteBackupVault`` to the caller (``AccessDeniedException``). moto runs no backup jobs, so a test
#   marks a vault as holding recovery points with ``hold_recovery_points``. The policy check reads Deny statements
#   whose Principal is every principal, with no condition or ``ArnNotEquals``/``ArnNotLike`` on ``aws:PrincipalArn``
#   (what this product writes); any other condition raises NotImplementedError rather than guess. The caller is
#   the StackSet execution role while a stack instance is deleted (DeleteStackInstances in
#   ``stackset_operations``), else unknown (exempt from no Deny).

_CALLER_PRINCIPAL_ARN: contextvars.ContextVar[str | None] = contextvars.ContextVar("caller_principal_arn", default=None)


def _vault_policy_denies(policy_text: str | None, action: str, principal_arn: str | None) -> bool:
    import fnmatch  # noqa: PLC0415

    if not policy_text:
        return False
    for statement in json.loads(policy_text).get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") != "Deny" or action not in actions:
            continue
        if statement.get("Principal") not in ("*", {"AWS": "*"}):
            raise NotImplementedError(f"vault policy Deny with principal {statement.get('Principal')!r}")
        condition = statement.get("Condition")
        if not condition:
            return True
        if set(condition) - {"ArnNotEquals", "ArnNotLike"} or any(
            set(tests) != {"aws:PrincipalArn"} for tests in condition.values()
        ):
            raise NotImplementedError(f"vault policy Deny condition {condition!r}")
        exempt = [
            pattern
            for tests in condition.values()
            for values in tests.values()
            for pattern in ([values] if isinstance(values, str) else values)
        ]
        if principal_arn is None or not any(fnmatch.fnmatchcase(principal_arn, pattern) for pattern in exempt):
            return True
    return False


def hold_recovery_points(account_id: str, region: str, vault_name: str, count: int = 1) -> None:
    """Mark a vault as holding ``count`` recovery points (moto runs no backup jobs)."""
    _vault(account_id, region, vault_name).num_of_recovery_points = count


@contextmanager
def backup_vault_deletion() -> Iterator[None]:
    from moto.backup.exceptions import InvalidRequestException  # noqa: PLC0415
    from moto.backup.models import BackupBackend  # noqa: PLC0415
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415

    original = BackupBackend.delete_backup_vault

    def delete_backup_vault(self: Any, backup_vault_name: str) -> None:
        vault = self.vaults.get(backup_vault_name)
        if vault is not None:
            if vault.num_of_recovery_points:
                raise InvalidRequestException(
                    f"Backup vault {backup_vault_name} cannot be deleted: it contains "
                    f"{vault.num_of_recovery_points} recovery points"
                )
            principal = _CALLER_PRINCIPAL_ARN.get()
            if _vault_policy_denies(getattr(vault, "access_policy", None), "backup:DeleteBackupVault", principal):
                error = JsonRESTError(
                    "AccessDeniedException",
                    f"{principal or 'The caller'} is not authorized to perform backup:DeleteBackupVault on "
                    f"{vault.backup_vault_arn} with an explicit deny in a resource-based policy",
                )
                error.code = 403
                raise error
        original(self, backup_vault_name)

    with mock.patch.object(BackupBackend, "delete_backup_vault", delete_backup_vault):
        yield


EXTENSIONS = (*EXTENSIONS, backup_vault_deletion)


# ---------------------------------------------------------------------------------------------------------------
# Stricter behaviour (issue 9): what moto accepts and AWS refuses. Each is documented in the module docstring.


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def vault_policy_problem(document: Any) -> str | None:
    """Why AWS Backup would refuse this vault access policy, or None."""
    if not isinstance(document, dict) or "Statement" not in document:
        return "Policy has no Statement"
    statements = document["Statement"]
    for index, statement in enumerate(_as_list(statements)):
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            return f"Statement {index}: Effect must be Allow or Deny"
        wildcards = [action for action in _as_list(statement.get("Action", [])) if "*" in str(action)]
        if wildcards:
            return (
                f"Statement {index}: Action {wildcards[0]!r} has a wildcard; AWS Backup access policies do not "
                "support wildcards in Action"
            )
    return None


STEPFUNCTIONS_INPUT_LIMIT_BYTES = 262_144


@contextmanager
def stepfunctions_input_limit() -> Iterator[None]:
    from moto.stepfunctions.exceptions import InvalidExecutionInput  # noqa: PLC0415
    from moto.stepfunctions.models import StepFunctionBackend  # noqa: PLC0415
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend  # noqa: PLC0415

    def limited(original: Callable[..., Any]) -> Callable[..., Any]:
        def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
            execution_input = kwargs.get("execution_input", args[1] if len(args) > 1 else None)
            text = getattr(execution_input, "value", execution_input)
            size = len(text.encode("utf-8")) if isinstance(text, str) else 0
            if size > STEPFUNCTIONS_INPUT_LIMIT_BYTES:
                raise InvalidExecutionInput(
                    f"The execution input is {size} bytes; the limit is {STEPFUNCTIONS_INPUT_LIMIT_BYTES} "
                    "(256 KiB, UTF-8)"
                )
            return original(self, state_machine_arn, *args, **kwargs)

        return start_execution

    with ExitStack() as stack:
        for backend in (StepFunctionBackend, StepFunctionsParserBackend):
            replacement = limited(vars(backend)["start_execution"])
            stack.enter_context(mock.patch.object(backend, "start_execution", replacement))
        yield


@contextmanager
def stepfunctions_terminal_errors() -> Iterator[None]:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (  # noqa: PLC0415
        ErrorEqualsDecl,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (  # noqa: PLC0415
        StatesErrorName,
    )

    original = ErrorEqualsDecl._eval_body
    terminal = ("States.DataLimitExceeded", "States.Runtime")

    def eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        wildcard_only = [name.error_name for name in self.error_names] == ["States.ALL"]
        if wildcard_only and isinstance(error_name, StatesErrorName) and error_name.error_name in terminal:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    with mock.patch.object(ErrorEqualsDecl, "_eval_body", eval_body):
        yield


EXTENSIONS = (*EXTENSIONS, stepfunctions_input_limit, stepfunctions_terminal_errors)


REFUSED_DELIVERIES: list[str] = []


def _document(text: Any) -> dict[str, Any] | None:
    from urllib.parse import unquote  # noqa: PLC0415

    if not text:
        return None
    if isinstance(text, dict):
        return text
    try:
        document: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError:
        document = json.loads(unquote(text))
    return document


def _role(role_arn: str) -> Any:
    from moto.iam.models import iam_backends  # noqa: PLC0415

    try:
        return iam_backends[role_arn.split(":")[4]]["aws"].get_role(role_arn.rsplit("/", 1)[-1])
    except Exception:  # NoSuchEntity: a role that does not exist cannot be assumed
        return None


def _principal_context(principal_arn: str) -> dict[str, str | list[str]]:
    account = principal_arn.split(":")[4]
    context: dict[str, str | list[str]] = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": account,
        "aws:SecureTransport": "true",
    }
    try:
        backend = _organization_backend()
    except RuntimeError:
        return context
    if account in {item.id for item in backend.accounts} | {backend.org.master_account_id}:
        context["aws:PrincipalOrgID"] = backend.org.id
    return context


def delivery_refusal(rule: Any, target: dict[str, Any]) -> str | None:
    """Why AWS would not deliver to this target (see the module docstring), or None."""
    from orgbackup_tools import iam_eval  # noqa: PLC0415

    arn = str(target["Arn"])
    source = {"aws:SourceArn": rule.arn, "aws:SourceAccount": rule.account_id, "aws:SecureTransport": "true"}
    if ":sns:" in arn:
        from moto.sns.models import sns_backends  # noqa: PLC0415

        _, _, _, region, account, _ = arn.split(":", 5)
        topic = sns_backends[account][region].topics.get(arn)
        policy = _document(getattr(topic, "policy", None)) if topic else None
        request = iam_eval.Request("events.amazonaws.com", "sns:Publish", arn, source)
        if not iam_eval.evaluate(request, {}, policy, account).allowed:
            return f"rule {rule.arn}: the policy of topic {arn} does not let EventBridge publish"
        return None
    if ":event-bus/" not in arn:
        return None
    from moto.events.models import events_backends  # noqa: PLC0415

    _, _, _, region, account, resource = arn.split(":", 5)
    bus = events_backends[account][region].describe_event_bus(resource.split("/", 1)[1])
    bus_policy = _document(bus.policy)
    role_arn = target.get("RoleArn")
    if role_arn:
        role = _role(role_arn)
        if role is None:
            return f"rule {rule.arn}: role {role_arn} does not exist"
        trust = _document(role.assume_role_policy_document)
        assume = iam_eval.Request("events.amazonaws.com", "sts:AssumeRole", role_arn, source)
        if not iam_eval.evaluate(assume, {}, trust, role_arn.split(":")[4]).allowed:
            return f"rule {rule.arn}: EventBridge may not assume {role_arn} (its trust policy)"
        identity = {name: _document(text) or {} for name, text in role.policies.items()}
        principal = role_arn
    else:
        principal = f"arn:aws:iam::{rule.account_id}:root"
        identity = {"account": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}
    request = iam_eval.Request(principal, "events:PutEvents", arn, _principal_context(principal))
    if not iam_eval.evaluate(request, identity, bus_policy, account).allowed:
        return f"rule {rule.arn}: {principal} may not put events on {arn} (its policies and the bus policy)"
    return None


# ---------------------------------------------------------------------------------------------------------------
# EventBridge rule input transformers and EventBridge Pipes input templates (issue 14: slim records)
#
# - ``input_transformer_missing_paths``: moto leaves a variable whose JSON path the event lacks in the output as
#   the literal ``<name>``. AWS: "If you specify a variable to match a JSON path that doesn't exist in the event,
#   that variable isn't created and won't appear in the output" (EventBridge User Guide, "Amazon EventBridge input
#   transformation", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html):
#   the placeholder becomes empty.
# - ``render_pipe_input_template(template, record)``: EventBridge Pipes has no moto model. AWS applies a target's
#   InputTemplate "separately on each individual JSON record in the array, not the array as a whole" ("Amazon
#   EventBridge Pipes batching and concurrency"); ``<$.path>`` reads the record, an SQS body that is JSON can be
#   read into (``<$.body.key>``), variables that reference strings are quoted in the template and variables that
#   reference objects or arrays are not ("Amazon EventBridge Pipes input transformation",
#   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-input-transformation.html). A path the record
#   lacks renders empty, as for rules (the Pipes page is silent; the rule behaviour is the documented one).


@functools.cache
def _json_path(path: str) -> Any:
    from jsonpath_ng.ext import parse as parse_path  # type: ignore[attr-defined]  # noqa: PLC0415 - moto's

    return parse_path(path)


def _missing_paths_become_empty(original: Callable[..., Any]) -> Callable[..., Any]:
    def parse(input_template: str, input_paths_map: dict[str, Any], event: Any) -> Any:
        missing = [name for name, path in (input_paths_map or {}).items() if not _json_path(path).find(event)]
        for name in missing:
            input_template = input_template.replace(f"<{name}>", "")
        return original(input_template, input_paths_map, event)

    return parse


@contextmanager
def input_transformer_missing_paths() -> Iterator[None]:
    from moto.events.utils import EventTemplateParser  # noqa: PLC0415

    patched = staticmethod(_missing_paths_become_empty(EventTemplateParser.parse))
    with mock.patch.object(EventTemplateParser, "parse", patched):
        yield


EXTENSIONS = (*EXTENSIONS, input_transformer_missing_paths)

_PIPE_VARIABLE = re.compile(r'("?)<(\$(?:\.[A-Za-z0-9_\-/*]+|\[\d+\])*)>("?)')


def _pipe_path(record: Any, path: str) -> tuple[bool, Any]:
    node = record
    for key, index in re.findall(r"\.([A-Za-z0-9_\-/]+)|\[(\d+)\]", path.removeprefix("$")):
        if key and isinstance(node, dict) and key in node:
            node = _parsed_body(node[key]) if node is record and key == "body" else node[key]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return False, None
    return True, node


def _parsed_body(body: Any) -> Any:
    """An SQS body that is JSON text, as Pipes reads it ("implicit body data parsing"); other text as is."""
    if isinstance(body, str):
        with suppress(ValueError):
            return json.loads(body)
    return body


def render_pipe_input_template(template: str, record: dict[str, Any]) -> Any:
    """One record of a Pipes batch as the target receives it through ``template`` (see above). A quoted variable
    must be the whole JSON string ("<$.messageId>"); text around a variable inside a string is not supported here."""

    def substitute(match: re.Match[str]) -> str:
        opening, path, closing = match.groups()
        found, value = _pipe_path(record, path)
        if opening and closing:  # a quoted variable: the value's text inside a JSON string
            text = "" if not found else value if isinstance(value, str) else json.dumps(value)
            return json.dumps(text)
        return opening + ("null" if not found else json.dumps(value)) + closing

    return json.loads(_PIPE_VARIABLE.sub(substitute, template))


# ---------------------------------------------------------------------------------------------------------------
# An unknown StackSet operation. moto answers DescribeStackSetOperation and ListStackSetOperationResults for an
# operation ID the StackSet does not have with a generic ``ValidationError``; AWS answers
# ``OperationNotFoundException`` ("The specified ID refers to an operation that doesn't exist": CloudFormation API
# reference, ListStackSetOperationResults and DescribeStackSetOperation, Errors,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackSetOperationResults.html).
# Its test: tests/integration/test_emulation_offboarding.py.


@contextmanager
def stackset_operation_not_found() -> Iterator[None]:
    from moto.cloudformation.models import StackSet  # noqa: PLC0415

    finding = StackSet.get_operation

    def get_operation(stackset: Any, operation_id: str) -> dict[str, Any]:
        if not any(operation["OperationId"] == operation_id for operation in stackset.operations):
            raise _stackset_error(
                "OperationNotFoundException", f"Operation {operation_id} not found in StackSet {stackset.name}"
            )
        return finding(stackset, operation_id)

    with mock.patch.object(StackSet, "get_operation", get_operation):
        yield


EXTENSIONS = (*EXTENSIONS, stackset_operation_not_found)

# ---------------------------------------------------------------------------------------------------------------
# ListStackInstances' StackInstanceAccount and StackInstanceRegion filters (moto ignores them and lists every
# instance). AWS lists only "stack instances for" the account and the Region named (ListStackInstances API
# reference, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackInstances.html); the
# product reads a batch's accounts that way. Applied by the StackSet emulation's ListStackInstances above.


def only_requested_instances(response: Any, summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``summaries`` a ListStackInstances request's StackInstanceAccount / StackInstanceRegion select."""
    account = response._get_param("StackInstanceAccount")
    region = response._get_param("StackInstanceRegion")
    return [
        summary
        for summary in summaries
        if (not account or summary["Account"] == account) and (not region or summary["Region"] == region)
    ]


# ---------------------------------------------------------------------------------------------------------------
# ListTargetsForPolicy in pages. moto answers with every target at once; AWS pages them: MaxResults is at most 20
# ("Valid Range: Minimum value of 1. Maximum value of 20", Organizations API reference, ListTargetsForPolicy,
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListTargetsForPolicy.html), and a NextToken
# follows while more remain. The default page size is "specific to the operation" and not published: the safe side
# for counting calls is the largest page, 20 (an organization's real count is then at least the emulation's).
# Its test: tests/integration/test_emulation.py.

POLICY_TARGETS_PAGE = 20


@contextmanager
def policy_target_pages() -> Iterator[None]:
    from moto.organizations.models import OrganizationsBackend  # noqa: PLC0415

    listing = OrganizationsBackend.list_targets_for_policy

    def list_targets_for_policy(backend: Any, **kwargs: Any) -> dict[str, Any]:
        targets = listing(backend, **kwargs)["Targets"]
        token = kwargs.get("NextToken") or "0"
        if not str(token).isdigit() or int(token) > len(targets):
            raise _org_error("InvalidInputException", "You specified an invalid value for nextToken.")
        start, size = int(token), int(kwargs.get("MaxResults") or POLICY_TARGETS_PAGE)
        page: dict[str, Any] = {"Targets": targets[start : start + size]}
        if start + size < len(targets):
            page["NextToken"] = str(start + size)
        return page

    with mock.patch.object(OrganizationsBackend, "list_targets_for_policy", list_targets_for_policy):
        yield


EXTENSIONS = (*EXTENSIONS, policy_target_pages)
