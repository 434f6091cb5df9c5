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

CloudFormation StackSets (API reference: CreateStackInstances, UpdateStackInstances, DescribeStackSetOperation,
ListStackSetOperationResults, ListStackInstances; user guide: StackSets operation options)
- ``stackset_operations``: moto ignores the caller's ``OperationId`` and ``OperationPreferences``, reports every
  instance of an operation with the operation's own status, and cannot fail one instance. AWS uses the caller's
  ID (a repeated one is ``OperationIdAlreadyExistsException``), skips account/Region pairs that already have an
  instance on create, refuses to update a pair that has none, reports a status per account and Region, leaves a
  failed instance ``OUTDATED`` with its reason, and fails the operation when a Region's failures exceed the
  failure tolerance. ``STACKSET_FAULTS`` makes chosen pairs fail (``fail``) or keeps operations ``RUNNING``
  (``hold``) until ``release()``, for fault tests; a failing pair's stack is not created, as in AWS. While an
  operation is held, ListStackInstances reports the instances it deploys as AWS does during an operation:
  ``OUTDATED`` with detailed status ``RUNNING`` (``StackInstanceComprehensiveStatus``).
  Stricter (issue 9): one operation per StackSet at a time. A create or update requested while another operation
  of the StackSet is RUNNING (held) or QUEUED raises ``OperationInProgressException`` unless the StackSet was
  created with ``ManagedExecution`` ``Active: true``; then it is ``QUEUED`` and runs when the running ones end, in
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
  ``requestPayload``, to the function's OnFailure destination.

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
"""

import copy
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
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
        self.held: list[tuple[dict[str, Any], str]] = []
        # Operations requested while another of their StackSet ran, with ManagedExecution active: each with the
        # work that runs it when it is its turn.
        self.queued: list[tuple[dict[str, Any], Callable[[], str]]] = []
        # StackSet name -> ManagedExecution Active (moto ignores the parameter)
        self.managed_execution: dict[str, bool] = {}
        # account -> opt-in Regions it has enabled
        self.enabled_regions: dict[str, set[str]] = {}

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def enable_region(self, account_id: str, region: str) -> None:
        """The account has enabled this opt-in Region (Account Management, EnableRegion)."""
        self.enabled_regions.setdefault(account_id, set()).add(region)

    def fail(self, account_id: str, region: str, reason: str = "Resource handler returned message: injected") -> None:
        self.failing[(account_id, region)] = reason

    def heal(self) -> None:
        self.failing.clear()

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        """Let held operations finish with the status they would have had."""
        self.holding = False
        for operation, final_status in self.held:
            operation["Status"] = final_status
        self.held.clear()
        # Then the queued operations run, in request order (StackSets user guide, "Managed execution").
        while self.queued:
            _, run = self.queued.pop(0)
            run()


STACKSET_FAULTS = StackSetFaults()


def _stackset_error(code: str, message: str) -> Exception:
    from moto.cloudformation.exceptions import CloudFormationError  # noqa: PLC0415

    return CloudFormationError(code, message)


CANCELLED_REASON = "Cancelled since failure tolerance has exceeded"
# "Regions launched before March 20, 2019 are enabled by default ... Opt-in Regions ... are disabled by default"
# (AWS Account Management reference, "Enable or disable AWS Regions in your account",
# https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html). Every other Region is opt-in.
DEFAULT_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
        "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-south-1",
    }
)  # fmt: skip


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
    if region not in DEFAULT_REGIONS and region not in STACKSET_FAULTS.enabled_regions.get(account, set()):
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
    ) -> str:
        """Record the operation (or complete the queued one); returns its status."""
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
                        if not existing(stackset, account, region):
                            failed_instances[(stackset.name, account, region)] = CANCELLED_REASON
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

        def run(queued: dict[str, Any] | None = None) -> str:
            results = perform(stackset, accounts, regions, preferences, one)
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
        return ActionResult({"Summaries": summaries})

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
    if destination and ":sns:" in destination:
        # Lambda sends to a destination with the function's execution role (Lambda developer guide, "Adding a
        # destination": the execution role needs permission to send to it).
        role = client.get_function(FunctionName=function_arn)["Configuration"]["Role"]
        sns: Any = boto3.session.Session().client("sns", region_name=destination.split(":")[3])
        with call_log.acting_as(role, "lambda.amazonaws.com"):
            sns.publish(
                TopicArn=destination, Message=json.dumps(_invocation_record(function_arn, event, error, attempts))
            )


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
    account.status = "SUSPENDED" if state in ("SUSPENDED", "PENDING_CLOSURE", "CLOSED") else "ACTIVE"
    if current_id in organizations_backends.master_accounts:
        organizations_backends.master_accounts[new_id] = organizations_backends.master_accounts.pop(current_id)


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
