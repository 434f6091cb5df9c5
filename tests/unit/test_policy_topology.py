"""The copy topology of the rendered policies: every backup is copied to the central vault of its own Region
(cross-account, never also cross-Region), an optional disaster-recovery copy goes to the same account's vault in
another Region (cross-Region, never also cross-account), and the documents stay within Organizations' limits for
1 to 17 backup Regions with the longest values the parameters allow."""

from pathlib import Path
from typing import Any

import pytest
from policy_cases import LONGEST_DEPLOYMENT, LONGEST_PARAMETERS, LONGEST_REGIONS

from orgbackup import settings_loader
from orgbackup.exceptions import ConfigurationError
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.render import MAX_POLICIES_PER_TARGET, TEMPLATES_DIR, RenderedPolicy, render_policies
from orgbackup.policies.validate import MAX_POLICY_CHARACTERS, validate_policy
from orgbackup.settings import Settings

CENTRAL_ACCOUNT = "222222222222"
DEPLOYMENT = {
    "OrganizationId": "o-a1b2c3d4e5",
    "ManagementAccountId": "111111111111",
    "CentralBackupAccountId": CENTRAL_ACCOUNT,
    "BackupRegions": "eu-west-1,eu-central-1,us-east-1",
    "MemberVaultName": "orgbackup-member",
    "CentralVaultName": "orgbackup-central",
    "BackupRoleName": "OrgBackupServiceRole",
    "MemberStacksetName": "orgbackup-member-baseline",
    "CentralVaultPolicyRoleName": "OrgBackupCentralVaultPolicyRole",
}


def settings(**overrides: str) -> Settings:
    return settings_loader.load(Settings, {**DEPLOYMENT, **overrides}, naming="cfn")


def plans(policies: list[RenderedPolicy]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for policy in policies:
        for name, plan in policy.document["plans"].items():
            assert name not in found, f"plan {name} is in two documents"
            found[name] = plan
    return found


def copy_targets(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(arn, action) for rule in plan["rules"].values() for arn, action in rule.get("copy_actions", {}).items()]


def arn_region_and_account(arn: str) -> tuple[str, str]:
    _, _, _, region, account, _ = arn.split(":", 5)
    return region, account


def assert_one_hop_per_copy(policies: list[RenderedPolicy], central_account: str = CENTRAL_ACCOUNT) -> None:
    """No copy action is both cross-account and cross-Region; central copies stay in the plan's Region."""
    for name, plan in plans(policies).items():
        (region,) = plan["regions"]["@@assign"]
        for arn, action in copy_targets(plan):
            target_region, account = arn_region_and_account(arn)
            assert action["target_backup_vault_arn"] == {"@@assign": arn}
            cross_account = account != "$account"
            cross_region = target_region != region
            assert not (cross_account and cross_region), f"{name}: {arn} is cross-account and cross-Region"
            if cross_account:
                assert account == central_account


def test_every_region_has_its_own_plan_copying_to_the_central_vault_of_that_region() -> None:
    # Given three backup Regions and no disaster-recovery Region
    policies = render_policies(settings(), PolicyParameters())
    found = plans(policies)
    # Then each template has one plan per Region, for that Region only
    regions = ("eu-west-1", "eu-central-1", "us-east-1")
    assert sorted(found) == sorted(f"orgbackup-{kind}-{region}" for kind in ("daily", "monthly") for region in regions)
    for region in regions:
        for kind in ("daily", "monthly"):
            plan = found[f"orgbackup-{kind}-{region}"]
            assert plan["regions"] == {"@@assign": [region]}
            # ... whose only copy goes to the central vault of the same Region, with the literal account ID
            central = f"arn:aws:backup:{region}:{CENTRAL_ACCOUNT}:backup-vault:orgbackup-central"
            assert [arn for arn, _ in copy_targets(plan)] == [central]
    assert_one_hop_per_copy(policies)
    # And the policies keep their names: one document per template while they fit
    assert [policy.name for policy in policies] == ["orgbackup-daily", "orgbackup-monthly"]
    assert [policy.regions for policy in policies] == [regions, regions]


def test_the_disaster_recovery_copy_goes_to_the_same_accounts_vault_in_the_dr_region() -> None:
    # Given a disaster-recovery Region outside the backup Regions, and cold storage for monthly backups
    policies = render_policies(
        settings(DisasterRecoveryRegion="eu-north-1"), PolicyParameters(monthly_cold_storage_after_days=30)
    )
    found = plans(policies)
    member_dr = "arn:aws:backup:eu-north-1:$account:backup-vault:orgbackup-member"
    for region in ("eu-west-1", "eu-central-1", "us-east-1"):
        daily = dict(copy_targets(found[f"orgbackup-daily-{region}"]))
        monthly = dict(copy_targets(found[f"orgbackup-monthly-{region}"]))
        # Then every Region's backups get a central copy in their Region and a DR copy into the account's own vault
        assert list(daily) == [f"arn:aws:backup:{region}:{CENTRAL_ACCOUNT}:backup-vault:orgbackup-central", member_dr]
        # ... kept as long as the backup itself, cold storage included (a valid lifecycle: cold + 90 <= delete)
        assert daily[member_dr]["lifecycle"] == {"delete_after_days": {"@@assign": "35"}}
        assert monthly[member_dr]["lifecycle"] == {
            "move_to_cold_storage_after_days": {"@@assign": "30"},
            "delete_after_days": {"@@assign": "365"},
        }
    assert_one_hop_per_copy(policies)
    assert all(validate_policy(policy.document, standalone=True) == [] for policy in policies)
    assert "also to eu-north-1 (same account)" in policies[0].description


def test_a_dr_region_that_is_also_a_backup_region_copies_only_the_other_regions() -> None:
    # Given a disaster-recovery Region that is one of the backup Regions
    found = plans(render_policies(settings(DisasterRecoveryRegion="eu-central-1"), PolicyParameters()))
    member_dr = "arn:aws:backup:eu-central-1:$account:backup-vault:orgbackup-member"
    # Then the other Regions copy there, and its own backups only get their central copy (no copy to itself)
    assert member_dr in dict(copy_targets(found["orgbackup-daily-eu-west-1"]))
    assert member_dr in dict(copy_targets(found["orgbackup-daily-us-east-1"]))
    assert [arn for arn, _ in copy_targets(found["orgbackup-daily-eu-central-1"])] == [
        f"arn:aws:backup:eu-central-1:{CENTRAL_ACCOUNT}:backup-vault:orgbackup-central"
    ]


@pytest.mark.parametrize("count", range(1, 18))
@pytest.mark.parametrize("disaster_recovery", [False, True], ids=["no-dr", "dr"])
def test_documents_stay_within_organizations_limits_for_1_to_17_regions(count: int, disaster_recovery: bool) -> None:
    # Given 1 to 17 backup Regions with the longest names, the longest parameter values and (or not) a DR Region
    regions = LONGEST_REGIONS[1 : count + 1]
    deployment = {**LONGEST_DEPLOYMENT, "BackupRegions": ",".join(regions)}
    if disaster_recovery:
        deployment["DisasterRecoveryRegion"] = LONGEST_REGIONS[0]
    # When rendering
    policies = render_policies(settings_loader.load(Settings, deployment, naming="cfn"), LONGEST_PARAMETERS)
    # Then every document is valid on its own and within 10,000 characters, and they fit 10 per target
    assert len(policies) <= MAX_POLICIES_PER_TARGET
    for policy in policies:
        assert policy.size <= MAX_POLICY_CHARACTERS
        assert validate_policy(policy.document, standalone=True) == []
    # And every Region has exactly one plan of each template, with one hop per copy
    found = plans(policies)
    assert len(found) == 2 * count
    assert sorted(region for plan in found.values() for region in plan["regions"]["@@assign"]) == sorted(regions * 2)
    assert_one_hop_per_copy(policies)
    # And the names are deterministic: <prefix>-<template>, then -2, -3 ...
    for kind in ("daily", "monthly"):
        names = [policy.name for policy in policies if policy.name.startswith(f"{'p' * 27}-{kind}")]
        assert names == [f"{'p' * 27}-{kind}"] + [f"{'p' * 27}-{kind}-{index}" for index in range(2, len(names) + 1)]


def test_appending_a_region_keeps_the_earlier_documents_unchanged() -> None:
    # Given many same-length Regions rendered, then the same with one more appended
    regions = [region for region in LONGEST_REGIONS if len(region) == 14][:9]
    before = render_policies(
        settings_loader.load(Settings, {**LONGEST_DEPLOYMENT, "BackupRegions": ",".join(regions[:8])}, naming="cfn"),
        LONGEST_PARAMETERS,
    )
    after = render_policies(
        settings_loader.load(Settings, {**LONGEST_DEPLOYMENT, "BackupRegions": ",".join(regions)}, naming="cfn"),
        LONGEST_PARAMETERS,
    )
    # Then the documents split (so that the test means something), and only each template's last one changes
    assert len(before) > 2
    changed = {policy.name for policy in before} - {policy.name for policy in after}
    assert changed == set()
    old = {policy.name: policy.content for policy in before}
    new = {policy.name: policy.content for policy in after}
    kept = [name for name in old if old[name] == new[name]]
    last = {[name for name in old if name.startswith(f"{'p' * 27}-{kind}")][-1] for kind in ("daily", "monthly")}
    assert kept
    assert set(old) - set(kept) <= last


def test_more_documents_than_organizations_attaches_is_a_clear_error(tmp_path: Path) -> None:
    # Given a third template (weekly): with the longest values, 17 Regions and a DR Region it needs over 10 documents
    regions = LONGEST_REGIONS[1:18]
    deployment = {
        **LONGEST_DEPLOYMENT,
        "BackupRegions": ",".join(regions),
        "DisasterRecoveryRegion": LONGEST_REGIONS[0],
    }
    extra = tmp_path / "templates"
    extra.mkdir()
    for name in ("daily", "monthly"):
        (extra / f"{name}.json").write_text((TEMPLATES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    (extra / "weekly.json").write_text(
        (TEMPLATES_DIR / "daily.json").read_text(encoding="utf-8").replace("-daily", "-weekly")
    )
    # When rendering
    with pytest.raises(ConfigurationError) as raised:
        render_policies(
            settings_loader.load(Settings, deployment, naming="cfn"), LONGEST_PARAMETERS, templates_dir=extra
        )
    # Then the error says how many documents, the limit, and what to shorten
    message = str(raised.value)
    assert "AWS Organizations attaches at most 10 backup policies to one target" in message
    assert "use fewer BackupRegions" in message


@pytest.mark.parametrize(
    ("lock", "says"),
    [
        (
            {"vault_lock_mode": "GOVERNANCE", "vault_lock_min_retention_days": 180},
            "CentralCopyRetentionDays=90 is shorter than VaultLockMinRetentionDays=180 (VaultLockMode=GOVERNANCE)",
        ),
        (
            {"vault_lock_mode": "COMPLIANCE", "vault_lock_min_retention_days": 7, "vault_lock_max_retention_days": 30},
            "CentralCopyRetentionDays=90 is longer than VaultLockMaxRetentionDays=30 (VaultLockMode=COMPLIANCE)",
        ),
        (
            {
                "vault_lock_mode": "GOVERNANCE",
                "vault_lock_min_retention_days": 400,
                "vault_lock_max_retention_days": 300,
            },
            "VaultLockMinRetentionDays=400 is longer than VaultLockMaxRetentionDays=300",
        ),
    ],
)
def test_a_copy_retention_outside_the_central_vault_lock_fails_before_deploying(
    lock: dict[str, Any], says: str
) -> None:
    # Given a central Vault Lock whose range excludes the central copy retention (90 days by default)
    # When rendering (which the deploy does before anything is created)
    with pytest.raises(ConfigurationError) as raised:
        render_policies(settings(), PolicyParameters(**lock))
    # Then the error names both parameters, the mode and the AWS rule
    assert says in str(raised.value)
    assert "API_PutBackupVaultLockConfiguration.html" in str(raised.value)


@pytest.mark.parametrize(
    "lock",
    [
        {"vault_lock_mode": "NONE", "vault_lock_min_retention_days": 365},  # no lock: the range is not applied
        {"vault_lock_mode": "GOVERNANCE", "vault_lock_min_retention_days": 90, "vault_lock_max_retention_days": 90},
        {"vault_lock_mode": "COMPLIANCE", "vault_lock_min_retention_days": 7, "vault_lock_max_retention_days": 0},
    ],
)
def test_a_copy_retention_inside_the_lock_renders(lock: dict[str, Any]) -> None:
    assert render_policies(settings(), PolicyParameters(**lock))
