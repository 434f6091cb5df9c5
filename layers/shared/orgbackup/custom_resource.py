"""CloudFormation custom resource requests and responses.

CloudFormation waits (up to the resource's ServiceTimeout) for a JSON document PUT to the request's pre-signed
``ResponseURL``. The handler must answer exactly once for every request, including when its own code fails,
or the stack hangs: ``run`` turns every exception into a FAILED response with the error as the reason.
"""

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orgbackup.exceptions import InvalidInputError
from orgbackup.observability import logger

RequestType = Literal["Create", "Update", "Delete"]
REQUIRED = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId")
# CloudFormation shows at most 4 KiB of a response; longer reasons are cut with a marker.
REASON_LIMIT = 3000
TRUNCATED = " ...(truncated)"


@dataclass(frozen=True)
class CustomResourceRequest:
    request_type: RequestType
    response_url: str
    stack_id: str
    request_id: str
    logical_resource_id: str
    physical_resource_id: str | None
    properties: Mapping[str, Any]
    old_properties: Mapping[str, Any]
    resource_type: str = ""  # Custom::<Name>: one function may serve several custom resource types

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> "CustomResourceRequest":
        if not isinstance(event, dict):
            # No ResponseURL to answer on: CloudFormation never sends this, so raising is all that can be done.
            raise InvalidInputError(f"custom resource request: must be a JSON object, got {type(event).__name__}")
        missing = [key for key in REQUIRED if not isinstance(event.get(key), str)]
        if missing:
            raise InvalidInputError(f"custom resource request: missing or non-string field(s) {', '.join(missing)}")
        request_type = event["RequestType"]
        if request_type not in ("Create", "Update", "Delete"):
            raise InvalidInputError(f"RequestType: {request_type!r} is not Create, Update or Delete")
        if not event["ResponseURL"].startswith("https://"):
            raise InvalidInputError(f"ResponseURL: {event['ResponseURL'][:80]!r} is not an https:// URL")
        return cls(
            request_type=request_type,
            response_url=event["ResponseURL"],
            stack_id=event["StackId"],
            request_id=event["RequestId"],
            logical_resource_id=event["LogicalResourceId"],
            physical_resource_id=event.get("PhysicalResourceId"),
            properties=event.get("ResourceProperties") or {},
            old_properties=event.get("OldResourceProperties") or {},
            resource_type=str(event.get("ResourceType") or ""),
        )


@dataclass(frozen=True)
class Outcome:
    physical_resource_id: str
    data: Mapping[str, str]


def _put(url: str, body: bytes) -> None:
    import urllib.request  # noqa: PLC0415 - only the custom resource answers CloudFormation; keep others' cold start

    # The pre-signed URL is signed for an empty Content-Type.
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - https only, checked in parse
        response.read()


def respond(
    request: CustomResourceRequest,
    status: Literal["SUCCESS", "FAILED"],
    physical_resource_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
    put: Callable[[str, bytes], None] | None = None,
    attempts: int = 3,
) -> dict[str, Any]:
    if len(reason) > REASON_LIMIT:
        reason = reason[: REASON_LIMIT - len(TRUNCATED)] + TRUNCATED
    body = {
        "Status": status,
        "Reason": reason or status,
        "PhysicalResourceId": physical_resource_id,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "Data": dict(data or {}),
    }
    payload = json.dumps(body).encode()
    for attempt in range(attempts):
        try:
            (put or _put)(request.response_url, payload)
            break
        except OSError:
            if attempt == attempts - 1:
                raise
            logger.warning("custom resource response failed; retrying", extra={"attempt": attempt + 1})
            time.sleep(2**attempt)
    return body


def run(
    event: Mapping[str, Any],
    action: Callable[[CustomResourceRequest], Outcome],
    put: Callable[[str, bytes], None] | None = None,
) -> dict[str, Any]:
    """Parse the request, run ``action`` and answer CloudFormation: SUCCESS with its outcome, or FAILED."""
    request = CustomResourceRequest.parse(event)
    fallback_id = request.physical_resource_id or f"{request.logical_resource_id}-{request.request_id}"
    try:
        outcome = action(request)
    except Exception as error:  # every failure must reach CloudFormation, or the stack waits for an hour
        logger.exception("custom resource action failed", extra={"request_type": request.request_type})
        return respond(request, "FAILED", fallback_id, f"{type(error).__name__}: {error}", put=put)
    return respond(request, "SUCCESS", outcome.physical_resource_id, data=outcome.data, put=put)
