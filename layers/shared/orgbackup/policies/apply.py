"""Upsert, attach, detach and delete the organization's backup policies (through the Organizations adapter,
``orgbackup.aws.organizations``).

Policies are found by name; an existing policy is updated in place (its ID, and so every attachment, is kept)
and only when its content or description changed. Attaching treats an existing attachment as done. The adapter
retries ``ConcurrentModificationException``, routine when Control Tower or another automation changes the
organization at the same time.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from orgbackup.aws.organizations import Organizations
from orgbackup.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

MANAGED_BY_TAG = {"Key": "managed-by", "Value": "orgbackup"}
ROOT_TOKEN = "ROOT"  # noqa: S105 - a target token, not a secret
# A target token meaning "each onboarded account directly" (instead of the root or OUs).
ACCOUNTS_TOKEN = "ACCOUNTS"  # noqa: S105


# A batch with at most this many targets looks each one's policies up before attaching (see attach_policies).
LIST_TARGETS_UP_TO = 20


class PolicySource(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def content(self) -> str: ...


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)  # "<policy name> -> <target id>"
    already_attached: list[str] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    policy_ids: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _same_content(current: str, desired: str) -> bool:
    try:
        return bool(json.loads(current) == json.loads(desired))
    except json.JSONDecodeError:
        return current == desired


def existing_policies(org: "Organizations | OrganizationsClient") -> dict[str, str]:
    """Backup policy name -> policy ID, for every backup policy of the organization."""
    return Organizations.of(org).backup_policies()


def resolve_targets(
    org: "Organizations | OrganizationsClient", target_ids: Iterable[str], accounts: Iterable[str] = ()
) -> list[str]:
    """Concrete target IDs: ROOT becomes the root's ID, ACCOUNTS becomes ``accounts``; order kept, no repeats."""
    resolved: list[str] = []
    for target in target_ids:
        if target == ROOT_TOKEN:
            resolved.append(Organizations.of(org).root_id())
        elif target == ACCOUNTS_TOKEN:
            resolved.extend(accounts)
        else:
            resolved.append(target)
    return list(dict.fromkeys(resolved))


def upsert_policies(
    org: "Organizations | OrganizationsClient", policies: Sequence[PolicySource], report: ApplyReport | None = None
) -> ApplyReport:
    organizations = Organizations.of(org)
    report = report or ApplyReport()
    current = organizations.backup_policies()
    for policy in policies:
        policy_id = current.get(policy.name)
        if policy_id is None:
            created = organizations.create_backup_policy(
                policy.name, policy.description, policy.content, [MANAGED_BY_TAG]
            )
            report.created.append(policy.name)
            report.policy_ids[policy.name] = created
            continue
        described = organizations.describe_policy(policy_id)
        report.policy_ids[policy.name] = policy_id
        unchanged = _same_content(described.get("Content", ""), policy.content) and (
            described["PolicySummary"].get("Description", "") == policy.description
        )
        if unchanged:
            report.unchanged.append(policy.name)
            continue
        organizations.update_policy(policy_id, policy.description, policy.content)
        report.updated.append(policy.name)
    logger.info("backup policies upserted", extra={"report": report.to_dict()})
    return report


def attach_policies(
    org: "Organizations | OrganizationsClient",
    policy_ids: dict[str, str],
    target_ids: Sequence[str],
    report: ApplyReport | None = None,
    *,
    list_attached: bool = True,
) -> ApplyReport:
    """Attach each policy to each target, skipping the attachments that exist. ``list_attached``: find them by
    listing each policy's targets (ListTargetsForPolicy: worth it when converging the whole organization, one page
    per 20 targets). Otherwise (a batch), by listing each target's backup policies (ListPoliciesForTarget: one
    call per target, so a batch's few accounts never cost a listing of every target of the policy in the
    organization); past ``LIST_TARGETS_UP_TO`` targets, by attaching directly: a batch that large is new accounts,
    nearly all without the policies, and an existing attachment answers DuplicatePolicyAttachmentException."""
    organizations = Organizations.of(org)
    report = report or ApplyReport()
    attached: set[tuple[str, str]] = set()
    if list_attached:
        attached = {
            (policy_id, target) for policy_id in policy_ids.values() for target in organizations.targets_of(policy_id)
        }
    elif len(target_ids) <= LIST_TARGETS_UP_TO:
        attached = {
            (policy_id, target) for target in target_ids for policy_id in organizations.backup_policies_of(target)
        }
    for name, policy_id in policy_ids.items():
        for target in target_ids:
            label = f"{name} -> {target}"
            if (policy_id, target) in attached or not organizations.attach(policy_id, target):
                report.already_attached.append(label)
            else:
                report.attached.append(label)
    return report


def apply_policies(
    org: "Organizations | OrganizationsClient",
    policies: Sequence[PolicySource],
    target_ids: Sequence[str],
    accounts: Sequence[str] = (),
) -> ApplyReport:
    """Upsert every policy, then attach each to every target (ROOT / OU / account IDs / ACCOUNTS)."""
    organizations = Organizations.of(org)
    report = upsert_policies(organizations, policies)
    targets = resolve_targets(organizations, target_ids, accounts)
    return attach_policies(organizations, report.policy_ids, targets, report)


def managed_policies(org: "Organizations | OrganizationsClient", prefix: str) -> dict[str, str]:
    """Name -> ID of the backup policies this product created under ``prefix`` (by name and by tag, so a
    hand-made policy that merely shares the prefix is never touched)."""
    organizations = Organizations.of(org)
    return {
        name: policy_id
        for name, policy_id in organizations.backup_policies().items()
        if name.startswith(f"{prefix}-") and MANAGED_BY_TAG in organizations.tags(policy_id)
    }


def delete_policies(org: "Organizations | OrganizationsClient", policies: dict[str, str]) -> ApplyReport:
    """Detach each policy (name -> ID) from every target, then delete it."""
    organizations = Organizations.of(org)
    report = ApplyReport()
    for name, policy_id in policies.items():
        for target in organizations.targets_of(policy_id):
            organizations.detach(policy_id, target)
            report.detached.append(f"{name} -> {target}")
        organizations.delete_policy(policy_id)
        report.deleted.append(name)
    logger.info("backup policies deleted", extra={"report": report.to_dict()})
    return report
