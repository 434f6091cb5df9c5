"""Typed models and parsing for what starts the onboarding workflow.

The state machine's input contract (``parse_workflow_input``) takes one of these shapes:

1. An EventBridge Pipes batch from SQS: a JSON list of SQS records. Pipes hands a Step Functions target the whole
   batch as one JSON array, even for a batch of one (EventBridge User Guide, "Amazon EventBridge Pipes batching
   and concurrency", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html);
   each record is shaped as in "Amazon Simple Queue Service as a source" (``messageId``, ``receiptHandle``,
   ``body``, ``attributes``, ``messageAttributes``, ``md5OfBody``, ``eventSource``, ``eventSourceARN``,
   ``awsRegion``), and ``body`` is the EventBridge event as JSON text. An empty list is valid.
   As deployed, each record is slim: each rule that targets the queue writes only what the workflow reads into
   the SQS body (the lifecycle rule ``{"eventName", "accountId", "ouId", "state"}``, the organization and OU
   change rules less) and the Pipe's InputTemplate hands over ``{"messageId": ..., "body": <that object>}``
   (``parse_slim_body``), so 1,000 records fit Step Functions' input.
2. ``{"mode": "manual", "account_ids": ["333333333333", ...], "reason": "optional note"}`` for replays and backfill.
3. ``{"mode": "reconcile"}``, what the daily schedule should send as its constant input. The raw EventBridge
   ``Scheduled Event`` (``source`` ``aws.events``) is accepted as reconcile too, so a schedule without an input
   template still works.
4. One raw EventBridge event (a dict with ``source`` and ``detail-type``), parsed as a batch of one; this is what
   ``sam local invoke -e events/controltower/*.json`` sends.

A bad record never raises: it becomes an ``InvalidRecord`` whose reason names the field path (relative to the
EventBridge event, or ``body`` for the SQS envelope), the value (truncated) and the rule. Only a malformed input
as a whole (not a list or an object, unknown ``mode``, a malformed manual request) raises ``InvalidInputError``.

Stdlib only: this module is imported on every cold start.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from orgbackup import fields
from orgbackup.exceptions import InvalidInputError
from orgbackup.fields import Fields, got, json_type, show

# Control Tower lifecycle events (Control Tower User Guide, "Lifecycle events in AWS Control Tower",
# https://docs.aws.amazon.com/controltower/latest/userguide/lifecycle-events.html).
CONTROL_TOWER_SOURCE: Final = "aws.controltower"
CLOUDTRAIL_SERVICE_EVENT: Final = "AWS Service Event via CloudTrail"
# UpdateManagedAccount is what Control Tower records when account creation is retried or an account is
# re-enrolled, so both names are onboarding triggers (same page, "Expected behavior of ... lifecycle events").
STATUS_KEYS: Final[Mapping[str, str]] = {
    "CreateManagedAccount": "createManagedAccountStatus",
    "UpdateManagedAccount": "updateManagedAccountStatus",
}
SCHEDULE_SOURCE: Final = "aws.events"
SCHEDULED_EVENT: Final = "Scheduled Event"

# A Control Tower lifecycle event is about 2 KB. A record 30 times larger is not one, and refusing it before
# json.loads bounds the work and the memory one bad message can cost; it also keeps the whole Pipes batch well
# inside Step Functions' 256 KiB input limit.
MAX_RECORD_BYTES: Final = 64 * 1024
# A manual request names accounts one by one; more belongs in reconcile mode. The resolution of this many accounts
# stays under 100 KiB (tested), well inside the 256 KiB Step Functions state payload.
MAX_MANUAL_ACCOUNTS: Final = 500
MAX_REASON_CHARS: Final = 1024
# Control Tower's own failure message is quoted in full up to this length: it is what an operator acts on.
MAX_MESSAGE_CHARS: Final = 500

# What asked for an account: a lifecycle event name, or an operator (reconcile lists accounts, it makes no requests).
Trigger = Literal[
    "CreateManagedAccount",
    "UpdateManagedAccount",
    "manual",
    # Organization changes (parsed at the end of this module): each asks to re-evaluate an account.
    "MoveAccount",
    "RemoveAccountFromOrganization",
    "CloseAccount",
    "RegisterOrganizationalUnit",
    "DeregisterOrganizationalUnit",
]
Mode = Literal["events", "manual", "reconcile"]
# Why a record is invalid, for machines: malformed, a valid event that does not ask for onboarding, or a FAILED one.
RecordCode = Literal["malformed", "not-a-trigger", "failed-state"]


@dataclass(frozen=True, slots=True)
class ManagedAccountEvent:
    """A well-formed CreateManagedAccount or UpdateManagedAccount lifecycle event (either state)."""

    event_id: str
    event_name: str
    account_id: str
    account_name: str
    ou_id: str
    ou_name: str
    state: str
    message: str
    requested_timestamp: str | None
    completed_timestamp: str | None
    # Top-level ``account`` and ``region`` of the event: the management account and the home Region.
    management_account_id: str | None
    region: str | None

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"


@dataclass(frozen=True, slots=True)
class AccountRequest:
    """One request to onboard one account; ``source`` identifies the record it came from (SQS messageId,
    EventBridge event ID or ``account_ids[i]``)."""

    account_id: str
    source: str
    trigger: Trigger
    account_name: str | None = None
    ou_id: str | None = None
    ou_name: str | None = None


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A record that cannot become a request; ``account_id`` is set when the record named a valid one."""

    source: str
    reason: str
    account_id: str | None = None
    code: RecordCode = "malformed"


@dataclass(frozen=True, slots=True)
class WorkflowInput:
    mode: Mode
    requests: tuple[AccountRequest, ...] = ()
    invalid: tuple[InvalidRecord, ...] = ()
    reason: str | None = None
    # OUs whose accounts an OU lifecycle event asks to re-evaluate (expanded by orgbackup.changes at Resolve).
    ou_requests: tuple["OuRequest", ...] = ()


class RecordError(Exception):
    """Internal: one record is invalid; the message is the reason. Never leaves this module's parse_* functions."""

    def __init__(self, reason: str, code: RecordCode = "malformed") -> None:
        super().__init__(reason)
        self.code: RecordCode = code


# ---------------------------------------------------------------------------------------------------------------
# Reading fields: orgbackup.fields, with errors that stay inside this module (one invalid record each)


def _fields(data: Mapping[str, Any], prefix: str = "") -> Fields:
    return Fields(data, prefix, RecordError)


def check_account_id(value: object, path: str) -> str:
    """A 12-digit account ID given as a string; raises RecordError naming ``path`` otherwise."""
    return fields.check_account_id(value, path, RecordError)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> Any:
    # NaN and Infinity are Python extensions, not JSON: no AWS service sends them.
    return json.loads(text, parse_constant=_reject_constant)


def _size_error(path: str, size: int) -> str:
    return (
        f"{path}: {size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit per record "
        "(a Control Tower lifecycle event is about 2 KB; a record this large is not one)"
    )


# ---------------------------------------------------------------------------------------------------------------
# Control Tower lifecycle events


def _read_event(event: object) -> ManagedAccountEvent:
    """Parse one EventBridge event as a managed-account lifecycle event; raises RecordError with the reason."""
    if not isinstance(event, dict):
        raise RecordError(f"event: must be an object (an EventBridge event), got {got(event)}")
    top = _fields(event)
    source = top.required_string("source")
    if source != CONTROL_TOWER_SOURCE:
        raise RecordError(
            f"source: {show(source)} is not {CONTROL_TOWER_SOURCE!r}: not a Control Tower event", "not-a-trigger"
        )
    detail_type = top.required_string("detail-type")
    if detail_type != CLOUDTRAIL_SERVICE_EVENT:
        raise RecordError(
            f"detail-type: {show(detail_type)} is not {CLOUDTRAIL_SERVICE_EVENT!r}: "
            "Control Tower lifecycle events arrive as CloudTrail service events",
            "not-a-trigger",
        )
    detail = top.object("detail")
    event_name = detail.required_string("eventName")
    status_key = STATUS_KEYS.get(event_name)
    if status_key is None:
        raise RecordError(
            f"detail.eventName: {show(event_name)} is not an onboarding trigger "
            "(only CreateManagedAccount and UpdateManagedAccount are)",
            "not-a-trigger",
        )
    status, base = _service_event_status(detail, status_key, event_name)

    state = status.required_string("state")
    if state not in {"SUCCEEDED", "FAILED"}:
        raise RecordError(f"{base}.state: {show(state)} is not SUCCEEDED or FAILED")
    raw_message = status.data.get("message")
    message = raw_message if isinstance(raw_message, str) else ("" if raw_message is None else show(raw_message))
    try:
        return _read_managed_account(event, status, event_name=event_name, state=state, message=message)
    except RecordError:
        if state == "FAILED":
            # A failed creation may not name a usable account at all: the failure is the reason that matters.
            raise RecordError(failure_reason(event_name, message), "failed-state") from None
        raise


def _read_managed_account(
    event: Mapping[str, Any], status: Fields, *, event_name: str, state: str, message: str
) -> ManagedAccountEvent:
    account = status.object("account")
    account_id = account.account_id("accountId")
    account_name = account.required_string("accountName")
    unit = status.object("organizationalUnit")
    ou_id = unit.ou_id("organizationalUnitId")
    ou_name = unit.required_string("organizationalUnitName")

    event_id = event.get("id")
    management = event.get("account")
    region = event.get("region")
    return ManagedAccountEvent(
        event_id=event_id if isinstance(event_id, str) else "",
        event_name=event_name,
        account_id=account_id,
        account_name=account_name,
        ou_id=ou_id,
        ou_name=ou_name,
        state=state,
        message=message,
        requested_timestamp=status.string("requestedTimestamp"),
        completed_timestamp=status.string("completedTimestamp"),
        management_account_id=management if isinstance(management, str) else None,
        region=region if isinstance(region, str) else None,
    )


def _named_account_id(event: object) -> str | None:
    """The account ID an invalid event names, when that part of it is valid (so the report says which account)."""
    try:
        detail = event["detail"]  # type: ignore[index]
        status = detail["serviceEventDetails"][STATUS_KEYS[detail["eventName"]]]
        return check_account_id(status["account"]["accountId"], "")
    except (KeyError, TypeError, RecordError):
        return None


def failure_reason(event_name: str, message: str) -> str:
    action = "creation" if event_name == "CreateManagedAccount" else "update"
    text = message.strip() or "(no message)"
    if len(text) > MAX_MESSAGE_CHARS:
        text = f"{text[:MAX_MESSAGE_CHARS]}... ({len(text)} chars)"
    return f"state 'FAILED': Control Tower reported the account {action} failed: {text}"


def parse_lifecycle_event(event: object, source: str) -> "AccountRequest | OuRequest | InvalidRecord":
    """One EventBridge event as an onboarding request or an InvalidRecord; never raises."""
    change = parse_change_event(event, source)
    if change is not None:
        return change
    try:
        parsed = _read_event(event)
    except RecordError as error:
        return InvalidRecord(source=source, reason=str(error), account_id=_named_account_id(event), code=error.code)
    except RecursionError:
        return InvalidRecord(source=source, reason="event: nested too deeply to be an EventBridge event")
    if not parsed.succeeded:
        return InvalidRecord(
            source=source,
            reason=failure_reason(parsed.event_name, parsed.message),
            account_id=parsed.account_id,
            code="failed-state",
        )
    trigger: Trigger = "CreateManagedAccount" if parsed.event_name == "CreateManagedAccount" else "UpdateManagedAccount"
    return AccountRequest(
        account_id=parsed.account_id,
        source=source,
        trigger=trigger,
        account_name=parsed.account_name,
        ou_id=parsed.ou_id,
        ou_name=parsed.ou_name,
    )


# ---------------------------------------------------------------------------------------------------------------
# The SQS records of a Pipes batch


def _record_source(record: object, index: int) -> str:
    message_id = record.get("messageId") if isinstance(record, dict) else None
    if isinstance(message_id, str) and message_id.strip():
        return message_id[:128]
    return f"record[{index}]"


def _event_from_body(record: object) -> object:
    if not isinstance(record, dict):
        raise RecordError(f"record: must be an object (an SQS message), got {got(record)}")
    body = _fields(record).required("body")
    if isinstance(body, dict):
        # The deployed Pipe's InputTemplate hands the body over parsed (see ``parse_slim_body``).
        size = len(json.dumps(body, separators=(",", ":"), default=str))
        if size > MAX_RECORD_BYTES:
            raise RecordError(_size_error("body", size))
        return body
    if not isinstance(body, str):
        raise RecordError(
            "body: must be a string (the EventBridge event as JSON text) or an object (the body the Pipe's "
            f"InputTemplate hands over), got {json_type(body)}"
        )
    size = len(body.encode("utf-8", errors="surrogatepass"))
    if size > MAX_RECORD_BYTES:
        raise RecordError(_size_error("body", size))
    try:
        event = _loads(body)
    except RecursionError:
        raise RecordError("body: JSON nested too deeply to be an EventBridge event") from None
    except ValueError as error:
        raise RecordError(f"body: not valid JSON ({error}): {show(body)}") from None
    if not isinstance(event, dict):
        raise RecordError(f"body: must be a JSON object (an EventBridge event), got {got(event)}")
    return event


# The slim record (issue 14): each rule that targets the onboarding queue writes only what the workflow reads into
# the SQS body, and the Pipe's InputTemplate keeps only the message ID and that body, so a Pipes batch of 1,000
# records stays inside Step Functions' 262,144-character input (template.yaml, OnboardingPipe):
# - ControlTowerLifecycleRule: ``{"eventName", "accountId", "ouId", "state"}``;
# - OrganizationChangesRule: ``{"eventName", "accountId"}`` (the workflow decides from the organization as it is,
#   so where a MoveAccount went is not carried);
# - ControlTowerOuLifecycleRule: ``{"eventName", "ouId", "state"}``.
SLIM_KEYS: Final = ("eventName", "accountId", "ouId", "state")


def parse_slim_body(body: Mapping[str, Any], source: str) -> "AccountRequest | OuRequest | InvalidRecord":
    """A slim body as one of the rules writes it (see above); never raises. A key whose path the event lacked
    arrives empty (EventBridge leaves such a variable out), and a malformed event that carried both status keys
    arrives with both values run together: both fail the checks below with the value quoted."""
    # Reasons name the field of the event the value came from, as for a whole event.
    try:
        event_name = _fields(body, "detail.").required_string("eventName")
        if event_name in ACCOUNT_CHANGES:
            return _slim_account_change(body, event_name, source)
        if event_name in OU_STATUS_KEYS:
            return _slim_ou_change(body, event_name, source)
        if event_name not in STATUS_KEYS:
            raise RecordError(
                f"detail.eventName: {show(event_name)} is not an onboarding trigger "
                "(only CreateManagedAccount and UpdateManagedAccount are, and the organization changes "
                f"{', '.join(sorted([*ACCOUNT_CHANGES, *OU_STATUS_KEYS]))})",
                "not-a-trigger",
            )
        base = f"detail.serviceEventDetails.{STATUS_KEYS[event_name]}"
        slim = Fields(
            body,
            f"{base}.",
            RecordError,
            paths={
                "accountId": f"{base}.account.accountId",
                "ouId": f"{base}.organizationalUnit.organizationalUnitId",
            },
        )
        state = slim.required_string("state")
        account_id = slim.account_id("accountId")
        if state == "FAILED":
            raise RecordError(failure_reason(event_name, ""), "failed-state")
        if state != "SUCCEEDED":
            raise RecordError(f"{base}.state: {show(state)} is not SUCCEEDED or FAILED")
        ou_id = slim.ou_id("ouId")
    except RecordError as error:
        named = body.get("accountId")
        account = named if fields.is_account_id(named) else None
        return InvalidRecord(source=source, reason=str(error), account_id=account, code=error.code)
    trigger: Trigger = "CreateManagedAccount" if event_name == "CreateManagedAccount" else "UpdateManagedAccount"
    return AccountRequest(account_id=account_id, source=source, trigger=trigger, ou_id=ou_id)


def _slim_account_change(body: Mapping[str, Any], event_name: str, source: str) -> AccountRequest:
    """``{"eventName", "accountId"}`` as OrganizationChangesRule writes it; raises RecordError."""
    slim = Fields(body, "detail.requestParameters.", RecordError)
    account_id = slim.account_id("accountId")
    return AccountRequest(account_id=account_id, source=source, trigger=cast(Trigger, event_name))


def _slim_ou_change(body: Mapping[str, Any], event_name: str, source: str) -> "OuRequest":
    """``{"eventName", "ouId", "state"}`` as ControlTowerOuLifecycleRule writes it; raises RecordError."""
    base = f"detail.serviceEventDetails.{OU_STATUS_KEYS[event_name]}"
    slim = Fields(body, f"{base}.", RecordError, paths={"ouId": f"{base}.organizationalUnit.organizationalUnitId"})
    state = slim.required_string("state")
    if state != "SUCCEEDED":
        raise RecordError(
            f"{base}.state: {show(state)}: Control Tower reported {event_name} did not succeed", "failed-state"
        )
    ou_id = slim.ou_id("ouId")
    return OuRequest(ou_id=ou_id, source=source, trigger=cast(Trigger, event_name))


def parse_sqs_record(record: object, index: int) -> "AccountRequest | OuRequest | InvalidRecord":
    """One SQS record of a Pipes batch, the whole SQS message or the slim one; never raises."""
    source = _record_source(record, index)
    try:
        event = _event_from_body(record)
    except RecordError as error:
        return InvalidRecord(source=source, reason=str(error))
    if isinstance(event, dict) and "source" not in event and "eventName" in event:
        return parse_slim_body(event, source)
    return parse_lifecycle_event(event, source)


def parse_batch(records: list[Any]) -> WorkflowInput:
    results = [parse_sqs_record(record, index) for index, record in enumerate(records)]
    return _collect("events", results)


def _collect(
    mode: Mode, results: "list[AccountRequest | OuRequest | InvalidRecord]", reason: str | None = None
) -> WorkflowInput:
    requests = tuple(item for item in results if isinstance(item, AccountRequest))
    invalid = tuple(item for item in results if isinstance(item, InvalidRecord))
    ou_requests = tuple(item for item in results if isinstance(item, OuRequest))
    return WorkflowInput(mode=mode, requests=requests, invalid=invalid, reason=reason, ou_requests=ou_requests)


# ---------------------------------------------------------------------------------------------------------------
# Manual and reconcile inputs


def _check_keys(payload: Mapping[str, Any], allowed: set[str], mode: str) -> None:
    unknown = sorted(str(key) for key in payload if key not in allowed)
    if unknown:
        raise InvalidInputError(
            f"{mode} input: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _parse_manual(payload: Mapping[str, Any]) -> WorkflowInput:
    _check_keys(payload, {"mode", "account_ids", "reason"}, "manual")
    if "account_ids" not in payload:
        raise InvalidInputError("account_ids: missing (a manual input names the account IDs to onboard)")
    account_ids = payload["account_ids"]
    if not isinstance(account_ids, list):
        raise InvalidInputError(f"account_ids: must be a list of account ID strings, got {json_type(account_ids)}")
    if not account_ids:
        raise InvalidInputError("account_ids: is empty: name at least one account ID (or use mode 'reconcile')")
    if len(account_ids) > MAX_MANUAL_ACCOUNTS:
        raise InvalidInputError(
            f"account_ids: {len(account_ids)} IDs exceed the {MAX_MANUAL_ACCOUNTS} a manual input may name: "
            "use mode 'reconcile' to onboard every in-scope account"
        )
    reason = payload.get("reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise InvalidInputError(f"reason: must be a string, got {got(reason)}")
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidInputError(f"reason: {len(reason)} characters exceed the limit of {MAX_REASON_CHARS}")
    results: list[AccountRequest | OuRequest | InvalidRecord] = []
    for index, value in enumerate(account_ids):
        source = f"account_ids[{index}]"
        try:
            results.append(AccountRequest(account_id=check_account_id(value, source), source=source, trigger="manual"))
        except RecordError as error:
            results.append(InvalidRecord(source=source, reason=str(error)))
    return _collect("manual", results, reason)


def _parse_mode(payload: Mapping[str, Any]) -> WorkflowInput:
    mode = payload["mode"]
    if mode == "manual":
        return _parse_manual(payload)
    if mode == "reconcile":
        _check_keys(payload, {"mode"}, "reconcile")
        return WorkflowInput(mode="reconcile")
    if not isinstance(mode, str):
        raise InvalidInputError(f"mode: must be a string, got {got(mode)}")
    raise InvalidInputError(f"mode: {show(mode)} is not one of 'manual', 'reconcile'")


def _parse_event_object(payload: Mapping[str, Any]) -> WorkflowInput:
    if payload.get("source") == SCHEDULE_SOURCE and payload.get("detail-type") == SCHEDULED_EVENT:
        return WorkflowInput(mode="reconcile")
    event_id = payload.get("id")
    source = event_id[:128] if isinstance(event_id, str) and event_id.strip() else "event"
    size = len(json.dumps(payload, separators=(",", ":"), default=str))
    if size > MAX_RECORD_BYTES:
        return _collect("events", [InvalidRecord(source=source, reason=_size_error("event", size))])
    return _collect("events", [parse_lifecycle_event(payload, source)])


def parse_workflow_input(payload: object) -> WorkflowInput:
    """The state machine's input in any accepted shape (see the module docstring).

    Raises InvalidInputError only when the input as a whole is malformed; bad records are returned in
    ``WorkflowInput.invalid`` with their reasons.
    """
    if isinstance(payload, list):
        return parse_batch(payload)
    if isinstance(payload, dict):
        if "mode" in payload:
            return _parse_mode(payload)
        if "source" in payload and "detail-type" in payload:
            return _parse_event_object(payload)
        keys = ", ".join(repr(str(key)) for key in list(payload)[:10]) or "none"
        raise InvalidInputError(
            f"input: an object must have 'mode' ('manual' or 'reconcile') or be an EventBridge event "
            f"('source' and 'detail-type'); its keys are {keys}"
        )
    raise InvalidInputError(f"input: must be a list of SQS records (a Pipes batch) or an object, got {got(payload)}")


# ---------------------------------------------------------------------------------------------------------------
# Organization changes: AWS Organizations API calls (through CloudTrail) and Control Tower OU lifecycle events.
# Each one only names what to re-evaluate: the decision (onboard, offboard, nothing) is taken from the organization
# as it is when the run executes (orgbackup.changes), so a replayed, late or out-of-order event cannot offboard an
# account on stale information.

ORGANIZATIONS_SOURCE: Final = "aws.organizations"
CLOUDTRAIL_API_CALL: Final = "AWS API Call via CloudTrail"
# Organizations sends its events to EventBridge through CloudTrail, detail-type "AWS API Call via CloudTrail"
# (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-organizations.html); the API's parameters are in
# detail.requestParameters, camelCased: MoveAccount has accountId, sourceParentId, destinationParentId
# (https://docs.aws.amazon.com/organizations/latest/APIReference/API_MoveAccount.html); CloseAccount and
# RemoveAccountFromOrganization have accountId (API_CloseAccount.html, API_RemoveAccountFromOrganization.html).
ACCOUNT_CHANGES: Final = frozenset({"MoveAccount", "RemoveAccountFromOrganization", "CloseAccount"})
# Control Tower OU lifecycle events (Control Tower User Guide, "Lifecycle events in AWS Control Tower",
# https://docs.aws.amazon.com/controltower/latest/userguide/lifecycle-events.html): serviceEventDetails.
# registerOrganizationalUnitStatus / deregisterOrganizationalUnitStatus with organizationalUnit and state.
OU_STATUS_KEYS: Final[Mapping[str, str]] = {
    "RegisterOrganizationalUnit": "registerOrganizationalUnitStatus",
    "DeregisterOrganizationalUnit": "deregisterOrganizationalUnitStatus",
}


@dataclass(frozen=True, slots=True)
class OuRequest:
    """Re-evaluate every account of an OU (and of its child OUs)."""

    ou_id: str
    source: str
    trigger: Trigger
    ou_name: str | None = None


def _is_change_event(event: object) -> bool:
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        return False
    name = event["detail"].get("eventName")
    return (event.get("source") == ORGANIZATIONS_SOURCE and name in ACCOUNT_CHANGES) or (
        event.get("source") == CONTROL_TOWER_SOURCE and name in OU_STATUS_KEYS
    )


def _read_account_change(event: Mapping[str, Any], source: str) -> AccountRequest:
    top = _fields(event)
    detail_type = top.required_string("detail-type")
    if detail_type != CLOUDTRAIL_API_CALL:
        raise RecordError(
            f"detail-type: {show(detail_type)} is not {CLOUDTRAIL_API_CALL!r}: Organizations events arrive as "
            "CloudTrail API calls",
            "not-a-trigger",
        )
    detail = top.object("detail")
    name = detail.data["eventName"]
    if detail.present("errorCode"):
        # CloudTrail records refused calls too: nothing changed in the organization.
        raise RecordError(
            f"detail.errorCode: {show(detail.data['errorCode'])}: the {name} call failed", "not-a-trigger"
        )
    params = detail.object("requestParameters")
    account_id = params.account_id("accountId")
    if name == "MoveAccount":
        for key in ("sourceParentId", "destinationParentId"):
            params.required_string(key)
    return AccountRequest(account_id=account_id, source=source, trigger=name)


def _service_event_status(detail: Fields, key: str, event_name: str) -> tuple[Fields, str]:
    """A Control Tower lifecycle event's ``serviceEventDetails.<key>`` object (its status) and its path."""
    details = detail.object("serviceEventDetails")
    base = details.path(key)
    if key not in details.data:
        found = ", ".join(sorted(str(item) for item in details.data)) or "nothing"
        raise RecordError(f"{base}: missing (required for eventName {event_name}; found {found})")
    return details.object(key), base


def _read_ou_change(event: Mapping[str, Any], source: str) -> OuRequest:
    detail = _fields(event).object("detail")
    name = detail.data["eventName"]
    key = OU_STATUS_KEYS[name]
    status, base = _service_event_status(detail, key, name)
    state = status.required_string("state")
    if state != "SUCCEEDED":
        raw = status.data.get("message")
        raise RecordError(
            f"{base}.state: {show(state)}: Control Tower reported {name} did not succeed: "
            f"{raw if isinstance(raw, str) else '(no message)'}"[: MAX_MESSAGE_CHARS + 120],
            "failed-state",
        )
    unit = status.object("organizationalUnit")
    ou_id = unit.ou_id("organizationalUnitId")
    ou_name = unit.string("organizationalUnitName")
    return OuRequest(ou_id=ou_id, source=source, trigger=name, ou_name=ou_name)


def _change_account_id(event: Mapping[str, Any]) -> str | None:
    try:
        return check_account_id(event["detail"]["requestParameters"]["accountId"], "")
    except (KeyError, TypeError, RecordError):
        return None


def parse_change_event(event: object, source: str) -> "AccountRequest | OuRequest | InvalidRecord | None":
    """An organization change (see above) as a request to re-evaluate, an InvalidRecord, or None when the event is
    not an organization change; never raises."""
    if not _is_change_event(event):
        return None
    assert isinstance(event, dict)
    try:
        if event.get("source") == ORGANIZATIONS_SOURCE:
            return _read_account_change(event, source)
        return _read_ou_change(event, source)
    except RecordError as error:
        return InvalidRecord(source=source, reason=str(error), account_id=_change_account_id(event), code=error.code)
