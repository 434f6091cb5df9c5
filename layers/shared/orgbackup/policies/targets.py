"""PolicyTargetIds changed (a `sam deploy` with a new list): detach the product's policies from the targets the
deployment no longer names. CloudFormation sends the custom resource's previous properties with an Update
(``OldResourceProperties``, CloudFormation User Guide, "Custom resource request objects",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html), so the old list is known.

ROOT stands for the root's ID; ACCOUNTS for "each protected account directly": when ACCOUNTS is dropped, every
account the policies are attached to directly loses them, except the accounts the new list names explicitly.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orgbackup import settings_loader
from orgbackup.aws.organizations import Organizations
from orgbackup.policies.apply import ACCOUNTS_TOKEN, ROOT_TOKEN

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient


def target_list(properties: Mapping[str, Any]) -> tuple[str, ...]:
    """The PolicyTargetIds property as a tuple (CloudFormation passes a list; a joined string is accepted)."""
    value = properties.get("PolicyTargetIds", ())
    if isinstance(value, str):
        return settings_loader.split_list(value)
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _concrete(org: Organizations, targets: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for target in targets:
        if target == ROOT_TOKEN:
            out.add(org.root_id())
        elif target != ACCOUNTS_TOKEN:
            out.add(target)
    return out


def detach_dropped_targets(
    org: "Organizations | OrganizationsClient", policy_ids: Mapping[str, str], old: Sequence[str], new: Sequence[str]
) -> list[str]:
    """Detach each policy (name -> ID) from the targets named in ``old`` but not in ``new``; returns
    "<policy> -> <target>" for each detachment."""
    if not old:
        return []
    organizations = Organizations.of(org)
    keep = _concrete(organizations, new)
    dropped = _concrete(organizations, old) - keep
    accounts_dropped = ACCOUNTS_TOKEN in old and ACCOUNTS_TOKEN not in new
    detached: list[str] = []
    for name, policy_id in policy_ids.items():
        for target_id, kind in organizations.targets_of(policy_id).items():
            by_token = accounts_dropped and kind == "ACCOUNT" and target_id not in keep
            if target_id not in dropped and not by_token:
                continue
            organizations.detach(policy_id, target_id)
            detached.append(f"{name} -> {target_id}")
    return detached
