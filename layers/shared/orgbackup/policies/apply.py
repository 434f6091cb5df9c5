"""Upsert, attach, detach and delete the organization's backup policies (AWS Organizations adapter).

Policies are found by name; an existing policy is updated in place (its ID, and so every attachment, is kept)
and only when its content or description changed. Attaching treats an existing attachment as done. Every call
goes through ``retry.call`` because ``ConcurrentModificationException`` is routine when Control Tower or another
automation changes the organization at the same time.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from orgbackup import retry
from orgbackup.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

BACKUP_POLICY = "BACKUP_POLICY"
MANAGED_BY_TAG = {"Key": "managed-by", "Value": "orgbackup"}
ROOT_TOKEN = "ROOT"  # noqa: S105 - a target token, not a secret
# A target token meaning "each onboarded account directly" (instead of the root or OUs).
ACCOUNTS_TOKEN = "ACCOUNTS"  # noqa: S105


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


def existing_policies(org: "OrganizationsClient") -> dict[str, str]:
    """Backup policy name -> policy ID, for every backup policy of the organization."""
    names: dict[str, str] = {}
    for page in retry.pages(org, "list_policies", Filter=BACKUP_POLICY):
        for summary in page["Policies"]:
            names[summary["Name"]] = summary["Id"]
    return names


def resolve_targets(org: "OrganizationsClient", target_ids: Iterable[str], accounts: Iterable[str] = ()) -> list[str]:
    """Concrete target IDs: ROOT becomes the root's ID, ACCOUNTS becomes ``accounts``; order kept, no repeats."""
    resolved: list[str] = []
    for target in target_ids:
        if target == ROOT_TOKEN:
            roots = retry.call(org.list_roots)["Roots"]
            resolved.append(roots[0]["Id"])
        elif target == ACCOUNTS_TOKEN:
            resolved.extend(accounts)
        else:
            resolved.append(target)
    return list(dict.fromkeys(resolved))


def upsert_policies(
    org: "OrganizationsClient", policies: Sequence[PolicySource], report: ApplyReport | None = None
) -> ApplyReport:
    report = report or ApplyReport()
    current = existing_policies(org)
    for policy in policies:
        policy_id = current.get(policy.name)
        if policy_id is None:
            created = retry.call(
                org.create_policy,
                Name=policy.name,
                Description=policy.description,
                Content=policy.content,
                Type=BACKUP_POLICY,
                Tags=[MANAGED_BY_TAG],
            )
            report.created.append(policy.name)
            report.policy_ids[policy.name] = created["Policy"]["PolicySummary"]["Id"]
            continue
        described = retry.call(org.describe_policy, PolicyId=policy_id)["Policy"]
        report.policy_ids[policy.name] = policy_id
        unchanged = _same_content(described.get("Content", ""), policy.content) and (
            described["PolicySummary"].get("Description", "") == policy.description
        )
        if unchanged:
            report.unchanged.append(policy.name)
            continue
        retry.call(org.update_policy, PolicyId=policy_id, Description=policy.description, Content=policy.content)
        report.updated.append(policy.name)
    logger.info("backup policies upserted", extra={"report": report.to_dict()})
    return report


def attach_policies(
    org: "OrganizationsClient",
    policy_ids: dict[str, str],
    target_ids: Sequence[str],
    report: ApplyReport | None = None,
    *,
    list_attached: bool = True,
) -> ApplyReport:
    """Attach each policy to each target, skipping the attachments that exist. ``list_attached``: find them by
    listing each policy's targets (ListTargetsForPolicy: worth it when converging the whole organization, one page
    per 20 targets); otherwise by listing each target's backup policies (ListPoliciesForTarget: one call per
    target, so a batch's few accounts never cost a listing of every target of the policy in the organization)."""
    report = report or ApplyReport()
    if list_attached:
        attached = {
            (policy_id, target["TargetId"])
            for policy_id in policy_ids.values()
            for page in retry.pages(org, "list_targets_for_policy", PolicyId=policy_id)
            for target in page["Targets"]
        }
    else:
        attached = {
            (policy["Id"], target)
            for target in target_ids
            for page in retry.pages(org, "list_policies_for_target", TargetId=target, Filter=BACKUP_POLICY)
            for policy in page["Policies"]
        }
    for name, policy_id in policy_ids.items():
        for target in target_ids:
            label = f"{name} -> {target}"
            if (policy_id, target) in attached:
                report.already_attached.append(label)
                continue
            try:
                retry.call(org.attach_policy, PolicyId=policy_id, TargetId=target)
            except ClientError as error:
                if retry.error_code(error) != "DuplicatePolicyAttachmentException":
                    raise
                report.already_attached.append(label)
            else:
                report.attached.append(label)
    return report


def apply_policies(
    org: "OrganizationsClient",
    policies: Sequence[PolicySource],
    target_ids: Sequence[str],
    accounts: Sequence[str] = (),
) -> ApplyReport:
    """Upsert every policy, then attach each to every target (ROOT / OU / account IDs / ACCOUNTS)."""
    report = upsert_policies(org, policies)
    targets = resolve_targets(org, target_ids, accounts)
    return attach_policies(org, report.policy_ids, targets, report)


def managed_policies(org: "OrganizationsClient", prefix: str) -> dict[str, str]:
    """Name -> ID of the backup policies this product created under ``prefix`` (by name and by tag, so a
    hand-made policy that merely shares the prefix is never touched)."""
    managed: dict[str, str] = {}
    for name, policy_id in existing_policies(org).items():
        if not name.startswith(f"{prefix}-"):
            continue
        tags = retry.call(org.list_tags_for_resource, ResourceId=policy_id)["Tags"]
        if MANAGED_BY_TAG in tags:
            managed[name] = policy_id
    return managed


def delete_policies(org: "OrganizationsClient", policies: dict[str, str]) -> ApplyReport:
    """Detach each policy (name -> ID) from every target, then delete it."""
    report = ApplyReport()
    for name, policy_id in policies.items():
        for page in retry.pages(org, "list_targets_for_policy", PolicyId=policy_id):
            for target in page["Targets"]:
                try:
                    retry.call(org.detach_policy, PolicyId=policy_id, TargetId=target["TargetId"])
                except ClientError as error:
                    if retry.error_code(error) != "PolicyNotAttachedException":
                        raise
                report.detached.append(f"{name} -> {target['TargetId']}")
        retry.call(org.delete_policy, PolicyId=policy_id)
        report.deleted.append(name)
    logger.info("backup policies deleted", extra={"report": report.to_dict()})
    return report
