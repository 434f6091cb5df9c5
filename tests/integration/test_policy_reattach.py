"""Onboarding step 5 against moto (with orgbackup_tools.emulation): it only attaches the product's own, tagged
backup policies (security review, issue 10, finding 6). Creating, updating and deleting them is the deploy-time
custom resource's job, whose role alone may do it."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orgbackup.exceptions import ConfigurationError
from orgbackup.policies import apply
from orgbackup.policies.converge import deploy_policies, reattach_policies
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup_tools import emulation

PARAMS = PolicyParameters()


@pytest.fixture
def org() -> Iterator[Any]:
    with mock_aws(), emulation.aws_extensions():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root_id = client.list_roots()["Roots"][0]["Id"]
        client.enable_policy_type(RootId=root_id, PolicyType="BACKUP_POLICY")
        yield client


def settings(org: Any, targets: tuple[str, ...] = ("ROOT",)) -> Settings:
    organization = org.describe_organization()["Organization"]
    return Settings(
        organization_id=organization["Id"],
        management_account_id=organization["MasterAccountId"],
        central_backup_account_id="222222222222",
        backup_regions=("eu-west-1",),
        member_vault_name="orgbackup-member",
        central_vault_name="orgbackup-central",
        backup_role_name="OrgBackupServiceRole",
        member_stackset_name="orgbackup-member",
        central_vault_policy_role_name="OrgBackupCentralVaultPolicyRole",
        policy_target_ids=targets,
    )


def test_reattach_attaches_the_deployed_policies_and_changes_nothing_else(org, monkeypatch) -> None:
    # Given the policies as the deploy created them, not yet attached anywhere
    deployed = deploy_policies(org, settings(org, ("ACCOUNTS",)), PARAMS)
    assert deployed.created
    assert not deployed.attached
    calls: list[str] = []
    for name in ("create_policy", "update_policy", "delete_policy", "detach_policy", "tag_resource"):
        monkeypatch.setattr(org, name, lambda *args, _name=name, **kwargs: calls.append(_name))
    # When onboarding reattaches them to the root
    report = reattach_policies(org, settings(org), PARAMS)
    # Then each is attached, and no create, update, delete, detach or tag call was made
    root_id = org.list_roots()["Roots"][0]["Id"]
    assert sorted(report.attached) == sorted(f"{name} -> {root_id}" for name in deployed.policy_ids)
    assert report.policy_ids == deployed.policy_ids
    assert calls == []


def test_reattach_never_takes_over_another_teams_policy_of_the_same_name(org) -> None:
    # Given another team's backup policy that happens to carry the product's name, without the product's tag
    content = '{"plans":{"other":{"regions":{"@@assign":["eu-west-1"]}}}}'
    other = org.create_policy(
        Name="orgbackup-daily", Description="not ours", Content=content, Type="BACKUP_POLICY", Tags=[]
    )["Policy"]["PolicySummary"]["Id"]
    # When onboarding reattaches
    with pytest.raises(ConfigurationError, match=r"orgbackup-daily.*do not exist.*redeploy") as error:
        reattach_policies(org, settings(org), PARAMS)
    # Then the error names the missing policies, and the other team's policy is untouched and unattached
    assert "orgbackup-monthly" in str(error.value)
    assert org.describe_policy(PolicyId=other)["Policy"]["Content"] == content
    assert org.list_targets_for_policy(PolicyId=other)["Targets"] == []
    assert apply.MANAGED_BY_TAG not in org.list_tags_for_resource(ResourceId=other)["Tags"]
