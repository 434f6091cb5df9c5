"""IAM names and the break-glass principal ARN in the settings: checked once, at handler entry, in IAM's own ASCII
character set and in the deployment's partition, so a bad value is a ConfigurationError naming the variable, the
value and why, never a failure of every RefreshVaultPolicy run after the StackSet work."""

import re
from typing import Any

import pytest

from orgbackup import fields, settings_loader
from orgbackup import vault_policy as vp
from orgbackup.exceptions import ConfigurationError
from orgbackup.settings import Settings

BASE = {
    "ORGANIZATION_ID": "o-a1b2c3d4e5",
    "MANAGEMENT_ACCOUNT_ID": "111111111111",
    "CENTRAL_BACKUP_ACCOUNT_ID": "222222222222",
    "BACKUP_REGIONS": "eu-west-1",
    "MEMBER_VAULT_NAME": "orgbackup-member",
    "CENTRAL_VAULT_NAME": "orgbackup-central",
    "BACKUP_ROLE_NAME": "OrgBackupServiceRole",
    "MEMBER_STACKSET_NAME": "orgbackup-member-baseline",
    "CENTRAL_VAULT_POLICY_ROLE_NAME": "OrgBackupCentralVaultPolicyRole",
}


def load(**overrides: Any) -> Settings:
    return settings_loader.load(Settings, {**BASE, **overrides})


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("BACKUP_ROLE_NAME", "rôle-ünïcode", "must be an IAM role name"),
        ("CENTRAL_VAULT_POLICY_ROLE_NAME", "Vault٣Role", "must be an IAM role name"),
        ("BACKUP_ROLE_NAME", "a" * 65, "must be an IAM role name"),
        ("BACKUP_ROLE_NAME", "Role*", "must be an IAM role name"),
        ("BREAK_GLASS_PRINCIPAL_ARN", "arn:aws:iam::123456789012:role/brëak", "must be an IAM role or user ARN"),
        ("BREAK_GLASS_PRINCIPAL_ARN", "arn:aws:iam::123456789012:role/ops/brëak", "must be an IAM role or user ARN"),
        ("BREAK_GLASS_PRINCIPAL_ARN", "arn:aws:iam::123456789012:role/Break*", "must be an IAM role or user ARN"),
        ("BREAK_GLASS_PRINCIPAL_ARN", "arn:aws:iam::12345678901:role/BreakGlass", "must be an IAM role or user ARN"),
        ("BREAK_GLASS_PRINCIPAL_ARN", "arn:aws:iam::123456789012:root", "must be an IAM role or user ARN"),
        ("BREAK_GLASS_PRINCIPAL_ARN", "arn:aws-xx:iam::123456789012:role/BreakGlass", "must be an IAM role or user"),
        ("BREAK_GLASS_PRINCIPAL_ARN", "BreakGlass", "must be an IAM role or user ARN"),
        ("BREAK_GLASS_PRINCIPAL_ARN", "*", "must be an IAM role or user ARN"),
    ],
)
def test_a_name_outside_iams_ascii_character_set_is_refused_at_entry(key: str, value: str, why: str) -> None:
    # Given an IAM name or ARN that IAM itself would refuse (another script's letters or digits, a wildcard, too
    # long, not a role or user ARN)
    # When loading the settings
    with pytest.raises(ConfigurationError) as raised:
        load(**{key: value})
    # Then the error names the variable, the value and the rule
    message = str(raised.value)
    assert f"{key}={value!r} is invalid" in message
    assert why in message


def test_a_break_glass_arn_of_another_partition_is_refused_at_entry() -> None:
    # Given a well-formed ARN of the China partition in a deployment of the aws partition
    arn = "arn:aws-cn:iam::123456789012:role/BreakGlass"
    # When loading the settings
    with pytest.raises(ConfigurationError) as raised:
        load(BREAK_GLASS_PRINCIPAL_ARN=arn)
    # Then the error names the variable, the value and both partitions
    assert str(raised.value) == (
        f"BREAK_GLASS_PRINCIPAL_ARN={arn!r} is invalid: it is in the 'aws-cn' partition, but this deployment is in "
        "the 'aws' partition"
    )


@pytest.mark.parametrize(
    ("overrides", "arn"),
    [
        ({}, "arn:aws:iam::123456789012:role/BreakGlass"),
        ({}, "arn:aws:iam::123456789012:user/ops/team+a/break.glass@example.com"),
        ({}, f"arn:aws:iam::123456789012:role/{'p' * 510}/{'n' * 64}"),
        ({}, f"arn:aws:iam::123456789012:role/{'p' * 250}/{'q' * 259}/Name"),
        ({"PARTITION": "aws-cn", "BACKUP_REGIONS": "cn-north-1"}, "arn:aws-cn:iam::123456789012:role/BreakGlass"),
        ({"PARTITION": "aws-us-gov", "BACKUP_REGIONS": "us-gov-west-1"}, "arn:aws-us-gov:iam::123456789012:role/B"),
    ],
)
def test_a_role_or_user_arn_of_the_deployments_partition_is_accepted(overrides: dict[str, str], arn: str) -> None:
    # Given a role or user ARN (with or without a path) of the deployment's partition
    loaded = load(BREAK_GLASS_PRINCIPAL_ARN=arn, **overrides)
    # Then the settings keep it, and the vault policy uses it as it is
    assert loaded.break_glass_principal_arn == arn
    policy = vp.render_central_vault_policy(loaded, ["333333333333"], loaded.primary_region)
    deletion = next(item for item in policy.document["Statement"] if item["Sid"] == vp.SID_DENY_DELETION)
    assert deletion["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [arn]}}


def test_a_path_longer_than_iams_512_characters_is_refused() -> None:
    # Given a role ARN whose path (with its slashes) is 513 characters
    arn = f"arn:aws:iam::123456789012:role/{'p' * 250}/{'q' * 260}/Name"
    # When loading the settings
    with pytest.raises(ConfigurationError, match="BREAK_GLASS_PRINCIPAL_ARN"):
        load(BREAK_GLASS_PRINCIPAL_ARN=arn)


def test_an_empty_break_glass_arn_means_nobody() -> None:
    assert load(BREAK_GLASS_PRINCIPAL_ARN="").break_glass_principal_arn is None


def test_every_identifier_pattern_spells_its_classes_out_in_ascii() -> None:
    # Python's \w, \d and \s also match other scripts' letters, digits and spaces, which AWS identifiers never hold
    patterns = {name: value for name, value in vars(fields).items() if name.isupper() and isinstance(value, str)}
    assert "IAM_PRINCIPAL_ARN" in patterns
    for name, value in patterns.items():
        assert not re.search(r"\\[wWdDsS]", value), name
