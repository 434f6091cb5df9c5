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
  policy that is not JSON (``InvalidParameterValueException``).

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

EventBridge (user guide: "Event bus targets", "Sending and receiving events between AWS accounts", "Lambda
asynchronous invocation"; Lambda developer guide: "Destinations")
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
- ``instant_waits``: moto's Step Functions interpreter really sleeps in Wait states; AWS's time is modelled, not
  spent, in a local run. Each wait is recorded (and yielded) instead.
"""

import copy
import functools
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any
from unittest import mock

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
        json.loads(policy)
    except (TypeError, json.JSONDecodeError):
        raise InvalidParameterValueException(f"Policy is not a valid JSON document: {policy!r:.80}") from None
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

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

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


STACKSET_FAULTS = StackSetFaults()


def _stackset_error(code: str, message: str) -> Exception:
    from moto.cloudformation.exceptions import CloudFormationError  # noqa: PLC0415

    return CloudFormationError(code, message)


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
        reason = STACKSET_FAULTS.failing.get((account, region))
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
    ) -> str:
        failures_per_region: dict[str, int] = {}
        for result in results:
            if result["Status"] == "FAILED":
                failures_per_region[result["Region"]] = failures_per_region.get(result["Region"], 0) + 1
        tolerance = _tolerance(preferences, accounts)
        final = "FAILED" if any(count > tolerance for count in failures_per_region.values()) else "SUCCEEDED"
        operation = {
            "OperationId": operation_id,
            "Action": action,
            "Status": "RUNNING" if STACKSET_FAULTS.holding else final,
            "CreationTimestamp": utcnow(),
            "EndTimestamp": utcnow(),
            "Instances": [{r["Account"]: r["Region"]} for r in results],
            "Results": results,
        }
        if STACKSET_FAULTS.holding:
            STACKSET_FAULTS.held.append((operation, final))
        stackset.operations.append(operation)
        return operation_id

    def existing(stackset: Any, account: str, region: str) -> bool:
        return (
            bool(stackset.instances.get_instance(account, region))
            or (stackset.name, account, region) in failed_instances
        )

    def create_stack_instances(response: Any) -> Any:
        stackset, accounts, regions, preferences, operation_id = params(response)
        overrides = response._get_param("ParameterOverrides", [])
        results = []
        for region in regions:
            for account in accounts:
                if stackset.instances.get_instance(account, region):
                    status, reason = "SUCCEEDED", ""  # AWS skips a pair that already has an instance
                else:
                    status, reason = deploy(stackset, account, region, overrides)
                results.append({"Account": account, "Region": region, "Status": status, "StatusReason": reason})
        record(stackset, "CREATE", operation_id, results, preferences, len(accounts))
        return ActionResult({"OperationId": operation_id})

    def update_stack_instances(response: Any) -> Any:
        stackset, accounts, regions, preferences, operation_id = params(response)
        missing = [f"{a}/{r}" for a in accounts for r in regions if not existing(stackset, a, r)]
        if missing:
            raise _stackset_error("StackInstanceNotFoundException", f"Stack instances not found: {', '.join(missing)}")
        overrides = response._get_param("ParameterOverrides", [])
        results = []
        for region in regions:
            for account in accounts:
                if (stackset.name, account, region) in failed_instances:
                    status, reason = deploy(stackset, account, region, overrides)
                else:
                    status, reason = "SUCCEEDED", ""
                results.append({"Account": account, "Region": region, "Status": status, "StatusReason": reason})
        record(stackset, "UPDATE", operation_id, results, preferences, len(accounts))
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
                        "StackInstanceStatus": {"DetailedStatus": "FAILED"},
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

    STACKSET_FAULTS.reset()
    with (
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
        sns: Any = boto3.session.Session().client("sns", region_name=destination.split(":")[3])
        sns.publish(TopicArn=destination, Message=json.dumps(_invocation_record(function_arn, event, error, attempts)))


@contextmanager
def eventbridge_targets() -> Iterator[None]:
    import boto3  # noqa: PLC0415
    from moto.events import models  # noqa: PLC0415
    from moto.events.utils import EventTemplateParser  # noqa: PLC0415

    original_send = models.Rule.send_to_targets

    def handled(target: Any) -> bool:
        arn = target["Arn"]
        return ":lambda:" in arn or ":sns:" in arn or ":event-bus/" in arn

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        ours = [target for target in self.targets if handled(target)]
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
