"""Every AWS call made in an emulated run, with the principal that makes it: the input of the least-privilege
contract (``orgbackup_tools.least_privilege``).

Who makes a call:
- a Lambda handler run by the emulation: its function's execution role (``acting_as`` around the handler);
- the state machine's service integrations (Lambda invoke, DescribeStackSetOperation, SNS publish): the state
  machine's role (the clients ``emulation.stepfunctions_caller_credentials`` makes carry it);
- the Pipe and the schedule, which the simulation plays: their roles (``acting_as`` in the simulation);
- credentials from ``sts:AssumeRole``: the assumed role, whoever holds them;
- EventBridge deliveries (``deliver``): the target's role when the target has one, else the service principal
  ``events.amazonaws.com`` with the rule as ``aws:SourceArn``.
Calls of the test harness itself (setting up the organization, reading results) are recorded without a principal
and are not part of the contract.
"""

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

EVENTS_SERVICE = "events.amazonaws.com"
# Set on the boto3 clients the emulated Step Functions interpreter uses for its tasks.
STATE_MACHINE_CLIENT = "_orgbackup_state_machine"
# Set on the test harness's own clients (``World.client``): their calls are the harness's, even when a test makes
# them from inside a handler (a callback at a chosen moment), unless the harness plays a principal (``playing``).
HARNESS_CLIENT = "_orgbackup_harness"


@dataclass(frozen=True)
class Principal:
    """An IAM role (``arn``) acting for a service (``service``, the principal that assumed it), or a service
    principal itself (``arn`` empty)."""

    arn: str
    service: str


@dataclass
class Call:
    principal: Principal | None
    service: str  # the botocore service name (cloudformation, organizations, ...) or an IAM prefix for deliveries
    operation: str  # the API operation, or the IAM action for deliveries
    params: Mapping[str, Any]
    region: str
    context: dict[str, str | list[str]] = field(default_factory=dict)
    delivery: bool = False


class CallLog:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._local = threading.local()
        self._assumed: dict[str, str] = {}  # access key ID -> role ARN
        self._lock = threading.Lock()
        # The state machine's role, for the clients its service integrations use (tagged by the emulation).
        self.state_machine: Principal | None = None

    def _stack(self) -> list[Principal]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        stack: list[Principal] = self._local.stack
        return stack

    @contextlib.contextmanager
    def acting_as(self, role_arn: str, service: str) -> Iterator[None]:
        self._stack().append(Principal(role_arn, service))
        try:
            yield
        finally:
            self._stack().pop()

    @contextlib.contextmanager
    def playing(self, role_arn: str, service: str) -> Iterator[None]:
        if not hasattr(self._local, "playing"):
            self._local.playing = []
        self._local.playing.append(Principal(role_arn, service))
        try:
            yield
        finally:
            self._local.playing.pop()

    def current(self, client: Any) -> Principal | None:
        credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
        key = getattr(credentials, "access_key", None)
        if key in self._assumed:
            return Principal(self._assumed[key], "")
        if getattr(client, HARNESS_CLIENT, False):
            played: list[Principal] = getattr(self._local, "playing", [])
            return played[-1] if played else None
        stack = self._stack()
        if stack:
            return stack[-1]
        if getattr(client, STATE_MACHINE_CLIENT, False):
            return self.state_machine
        return None

    def record(
        self,
        client: Any,
        operation: str,
        params: Mapping[str, Any],
        response: Any,
        context: Mapping[str, str | list[str]] | None = None,
    ) -> None:
        principal = self.current(client)
        service = client.meta.service_model.service_name
        with self._lock:
            self.calls.append(
                Call(principal, service, operation, dict(params), client.meta.region_name, dict(context or {}))
            )
            if operation == "AssumeRole" and isinstance(response, Mapping) and "Credentials" in response:
                self._assumed[response["Credentials"]["AccessKeyId"]] = str(params["RoleArn"])

    def deliver(self, action: str, resource: str, region: str, role_arn: str | None, rule_arn: str) -> None:
        """An EventBridge rule delivers to a target: as the target's role, or as the service for the rule."""
        service, _, operation = action.partition(":")
        principal = Principal(role_arn, EVENTS_SERVICE) if role_arn else Principal("", EVENTS_SERVICE)
        context: dict[str, str | list[str]] = {"aws:SourceArn": rule_arn, "aws:SourceAccount": rule_arn.split(":")[4]}
        with self._lock:
            self.calls.append(
                Call(principal, service, operation, {"resource": resource}, region, context, delivery=True)
            )


_ACTIVE: list[CallLog] = []


def active() -> CallLog | None:
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def acting_as(role_arn: str, service: str) -> Iterator[None]:
    """Calls in this block (on this thread) are made by ``role_arn``, assumed by ``service``."""
    log = active()
    if log is None:
        yield
        return
    with log.acting_as(role_arn, service):
        yield


@contextlib.contextmanager
def playing(role_arn: str, service: str) -> Iterator[None]:
    """The harness plays this principal (the Pipe, the schedule): its own clients' calls in this block are made
    by ``role_arn``, assumed by ``service``."""
    log = active()
    if log is None:
        yield
        return
    with log.playing(role_arn, service):
        yield


@contextlib.contextmanager
def recording() -> Iterator[CallLog]:
    """Record every botocore call made while the block runs (all threads)."""
    from unittest import mock  # noqa: PLC0415

    from botocore.client import BaseClient  # noqa: PLC0415

    log = CallLog()
    original = vars(BaseClient)["_make_api_call"]

    def make_api_call(self: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        # The request's condition keys are read before the call (a deleted policy has no tags afterwards).
        context = request_context(self.meta.service_model.service_name, operation_name, api_params)
        # Recorded whether it succeeds or not: a refused or failed call still needed its permission.
        try:
            response = original(self, operation_name, api_params)
        except Exception:
            log.record(self, operation_name, api_params, None, context)
            raise
        log.record(self, operation_name, api_params, response, context)
        return response

    _ACTIVE.append(log)
    try:
        with mock.patch.object(BaseClient, "_make_api_call", make_api_call):
            yield log
    finally:
        _ACTIVE.remove(log)


# Organizations' condition keys for the calls the product makes (Service Authorization Reference, "Actions,
# resources, and condition keys for AWS Organizations",
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsorganizations.html):
# CreatePolicy carries organizations:PolicyType and, with tags, aws:RequestTag/<key> and aws:TagKeys; TagResource
# the same tag keys; a call on a policy is authorized with that policy's tags as aws:ResourceTag/<key>.
RESOURCE_TAG = "aws:ResourceTag/"


def request_context(service: str, operation: str, params: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """The condition keys AWS would put in the request context of this call (the ones the templates test)."""
    if service != "organizations":
        return {}
    context: dict[str, str | list[str]] = {}
    if operation == "CreatePolicy":
        context["organizations:PolicyType"] = str(params.get("Type", ""))
    tags = params.get("Tags") or []
    if operation in ("CreatePolicy", "TagResource") and tags:
        context.update({f"aws:RequestTag/{tag['Key']}": str(tag["Value"]) for tag in tags})
        context["aws:TagKeys"] = [str(tag["Key"]) for tag in tags]
    policy_id = params.get("PolicyId") or params.get("ResourceId")
    if isinstance(policy_id, str) and policy_id.startswith("p-"):
        context.update({f"{RESOURCE_TAG}{key}": value for key, value in _policy_tags(policy_id).items()})
    return context


def _policy_tags(policy_id: str) -> dict[str, str]:
    from moto.organizations.models import organizations_backends  # noqa: PLC0415

    for by_partition in organizations_backends.values():
        for backend in by_partition.values():
            policy = next((p for p in getattr(backend, "policies", []) if p.id == policy_id), None)
            if policy is not None:
                return {str(key): str(value) for key, value in policy.tags.items()}
    return {}
