"""The backup-policy adapter against moto (with orgbackup_tools.emulation): create, update in place, no-op,
attach idempotence, retry on concurrent modification, delete."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from policy_cases import largest_render

from orgbackup.exceptions import RetryableConflictError
from orgbackup.policies import apply
from orgbackup_tools import emulation


@dataclass(frozen=True)
class Doc:
    name: str
    description: str
    content: str


def doc(name: str, days: int = 35) -> Doc:
    body = {"plans": {name: {"rules": {"daily": {"lifecycle": {"delete_after_days": {"@@assign": str(days)}}}}}}}
    return Doc(name, f"{name} policy", json.dumps(body, separators=(",", ":")))


@pytest.fixture
def org() -> Iterator[Any]:
    with mock_aws(), emulation.aws_extensions():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root_id = client.list_roots()["Roots"][0]["Id"]
        client.enable_policy_type(RootId=root_id, PolicyType="BACKUP_POLICY")
        yield client


def targets_of(org: Any, policy_id: str) -> list[str]:
    return [t["TargetId"] for t in org.list_targets_for_policy(PolicyId=policy_id)["Targets"]]


def test_first_apply_creates_tags_and_attaches_to_the_root(org) -> None:
    # When two policies are applied to ROOT
    report = apply.apply_policies(org, [doc("orgbackup-daily"), doc("orgbackup-monthly")], ["ROOT"])
    # Then both are created, tagged as managed, and attached to the root
    root_id = org.list_roots()["Roots"][0]["Id"]
    assert report.created == ["orgbackup-daily", "orgbackup-monthly"]
    for policy_id in report.policy_ids.values():
        assert targets_of(org, policy_id) == [root_id]
        assert apply.MANAGED_BY_TAG in org.list_tags_for_resource(ResourceId=policy_id)["Tags"]
    assert report.attached == [f"orgbackup-daily -> {root_id}", f"orgbackup-monthly -> {root_id}"]


def test_changed_content_updates_in_place_and_keeps_the_policy_id(org) -> None:
    first = apply.apply_policies(org, [doc("orgbackup-daily", 35)], ["ROOT"])
    # When the content changes
    second = apply.apply_policies(org, [doc("orgbackup-daily", 60)], ["ROOT"])
    # Then the same policy is updated, still attached
    assert second.updated == ["orgbackup-daily"]
    assert second.policy_ids == first.policy_ids
    content = org.describe_policy(PolicyId=first.policy_ids["orgbackup-daily"])["Policy"]["Content"]
    assert json.loads(content) == json.loads(doc("orgbackup-daily", 60).content)
    assert second.already_attached
    assert not second.attached


def test_unchanged_policies_are_not_written_again(org, monkeypatch) -> None:
    apply.apply_policies(org, [doc("orgbackup-daily")], ["ROOT"])
    calls: list[str] = []
    org.meta.events.register("before-call.organizations.*", lambda model, **_: calls.append(model.name))
    # When the same documents are applied again
    report = apply.apply_policies(org, [doc("orgbackup-daily")], ["ROOT"])
    # Then nothing is created or updated and the existing attachment counts as done
    assert report.unchanged == ["orgbackup-daily"]
    assert not report.created
    assert not report.updated
    assert not report.attached
    assert len(report.already_attached) == 1
    assert "UpdatePolicy" not in calls
    assert "CreatePolicy" not in calls


def test_attaches_to_ous_and_accounts_and_accounts_token(org) -> None:
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou_id = org.create_organizational_unit(ParentId=root_id, Name="Workloads")["OrganizationalUnit"]["Id"]
    account_id = org.create_account(AccountName="a", Email="a@example.com")["CreateAccountStatus"]["AccountId"]
    # When the targets are an OU and "each onboarded account"
    report = apply.apply_policies(org, [doc("orgbackup-daily")], [ou_id, "ACCOUNTS"], accounts=[account_id])
    # Then it is attached to exactly those
    assert sorted(targets_of(org, report.policy_ids["orgbackup-daily"])) == sorted([ou_id, account_id])


def test_concurrent_modification_is_retried_with_backoff(org, no_sleep) -> None:
    # Given Organizations answers ConcurrentModificationException twice
    with emulation.inject_errors(org, "CreatePolicy", "ConcurrentModificationException", times=2) as raised:
        report = apply.apply_policies(org, [doc("orgbackup-daily")], ["ROOT"])
    # Then the create succeeds on the third attempt after two bounded waits
    assert raised == ["ConcurrentModificationException"] * 2
    assert report.created == ["orgbackup-daily"]
    assert len(no_sleep) == 2


def test_retries_are_bounded(org, no_sleep) -> None:
    with (
        emulation.inject_errors(org, "AttachPolicy", "ConcurrentModificationException", times=100),
        pytest.raises(RetryableConflictError, match="ConcurrentModificationException after 6 attempts"),
    ):
        apply.apply_policies(org, [doc("orgbackup-daily")], ["ROOT"])
    assert len(no_sleep) == 5


def test_delete_detaches_then_deletes_only_managed_policies(org) -> None:
    root_id = org.list_roots()["Roots"][0]["Id"]
    apply.apply_policies(org, [doc("orgbackup-daily"), doc("orgbackup-monthly")], ["ROOT"])
    # Given a hand-made policy that shares the prefix but is not tagged as managed
    hand_made = org.create_policy(
        Name="orgbackup-manual", Description="x", Content=doc("x").content, Type="BACKUP_POLICY"
    )["Policy"]["PolicySummary"]["Id"]
    # When the managed policies are deleted
    report = apply.delete_policies(org, apply.managed_policies(org, "orgbackup"))
    # Then both managed ones are detached and gone; the hand-made one stays
    assert sorted(report.deleted) == ["orgbackup-daily", "orgbackup-monthly"]
    assert sorted(report.detached) == [f"orgbackup-daily -> {root_id}", f"orgbackup-monthly -> {root_id}"]
    assert list(apply.existing_policies(org)) == ["orgbackup-manual"]
    assert org.describe_policy(PolicyId=hand_made)["Policy"]["PolicySummary"]["Name"] == "orgbackup-manual"


def test_the_largest_rendered_policy_set_applies_and_leaves_no_room_for_an_eleventh(org) -> None:
    # Given the most documents the renderer produces: 17 Regions and a DR Region, the longest values allowed
    policies = largest_render()
    assert len(policies) == 10
    # When applying them to the root of the emulated organization (which enforces Organizations' quotas)
    report = apply.apply_policies(org, policies, ["ROOT"])
    # Then every document is accepted (each within 10,000 characters) and attached
    assert sorted(report.created) == sorted(policy.name for policy in policies)
    assert len(report.attached) == 10
    # And the quota of 10 per target is reached: one more backup policy cannot be attached there
    extra = org.create_policy(Name="other", Description="d", Content=doc("other").content, Type="BACKUP_POLICY")
    root_id = org.list_roots()["Roots"][0]["Id"]
    with pytest.raises(org.exceptions.ConstraintViolationException):
        org.attach_policy(PolicyId=extra["Policy"]["PolicySummary"]["Id"], TargetId=root_id)
