"""What a simulation runs: the lifecycle events, and the emulated organization those events need.

`orgbackup simulate` (commands/simulate.py) and the bench (bench.py) both start here, so neither imports the
other. Reading the organization's types loads moto, so they are imported when a world is planned, not before.
"""

import copy
import re
from typing import TYPE_CHECKING, Any

from orgbackup_tools.deployment import PROJECT_ROOT

if TYPE_CHECKING:
    from orgbackup_tools.simulation import OrgSpec

DEFAULT_EVENT = PROJECT_ROOT / "events" / "controltower" / "create-managed-account.json"
ACCOUNT_RE = re.compile(r"[0-9]{12}")
OU_RE = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")


def status_details(event: dict[str, Any]) -> dict[str, Any] | None:
    """The Control Tower lifecycle event's account status (create or update), None for any other event."""
    detail = event.get("detail")
    details = detail.get("serviceEventDetails") if isinstance(detail, dict) else None
    if not isinstance(details, dict):
        return None
    for key in ("createManagedAccountStatus", "updateManagedAccountStatus"):
        if isinstance(details.get(key), dict):
            return details[key]  # type: ignore[no-any-return]
    return None


def burst_events(count: int, template: dict[str, Any]) -> list[dict[str, Any]]:
    """``count`` CreateManagedAccount events for new accounts 700000000001, 700000000002, ..."""
    events = []
    for index in range(1, count + 1):
        event = copy.deepcopy(template)
        event["id"] = f"burst-{index:06d}"
        status = status_details(event)
        assert status is not None  # the sample is a lifecycle event
        status["account"] = {"accountId": f"7{index:011d}", "accountName": f"burst-{index:04d}"}
        events.append(event)
    return events


def plan_world(events: list[dict[str, Any]]) -> tuple["OrgSpec", list[str]]:
    """The organization to emulate: the default one, plus each valid account an event names that it lacks
    (created in an OU of the event's name and ID, put in scope). Invalid IDs are left for the workflow to reject."""
    from orgbackup_tools.simulation import Account, OrgSpec, OrgUnit  # noqa: PLC0415

    spec = OrgSpec()
    notes: list[str] = []
    known_accounts = {account.account_id for account in spec.accounts} | {"111111111111"}
    for event in events:
        status = status_details(event)
        if status is None:
            continue
        account = status.get("account", {}) if isinstance(status.get("account"), dict) else {}
        ou = status.get("organizationalUnit", {}) if isinstance(status.get("organizationalUnit"), dict) else {}
        account_id, ou_id = str(account.get("accountId", "")), str(ou.get("organizationalUnitId", ""))
        if not (ACCOUNT_RE.fullmatch(account_id) and OU_RE.fullmatch(ou_id)) or account_id in known_accounts:
            continue
        if ou_id not in {unit.ou_id for unit in spec.ous}:
            spec.ous.append(OrgUnit(ou_id, str(ou.get("organizationalUnitName") or ou_id), spec.root_id))
            notes.append(f"created OU {ou_id} for the event")
        if ou_id not in spec.in_scope_ou_ids:
            spec.in_scope_ou_ids = (*spec.in_scope_ou_ids, ou_id)
        spec.accounts.append(Account(account_id, str(account.get("accountName") or account_id), ou_id))
        known_accounts.add(account_id)
        if not account_id.startswith("7"):
            notes.append(f"created account {account_id} in {ou_id}")
    return spec, notes
