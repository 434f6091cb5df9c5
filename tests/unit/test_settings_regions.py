"""Region names in the settings: checked against the Regions botocore ships, with a way to allow newer ones; the
disaster-recovery Region joins the member baseline's Regions."""

from typing import Any

import pytest

from orgbackup import settings_loader
from orgbackup.exceptions import ConfigurationError
from orgbackup.regions import known_regions
from orgbackup.settings import Settings

BASE = {
    "ORGANIZATION_ID": "o-a1b2c3d4e5",
    "MANAGEMENT_ACCOUNT_ID": "111111111111",
    "CENTRAL_BACKUP_ACCOUNT_ID": "222222222222",
    "BACKUP_REGIONS": "eu-west-1,eu-central-1",
    "MEMBER_VAULT_NAME": "orgbackup-member",
    "CENTRAL_VAULT_NAME": "orgbackup-central",
    "BACKUP_ROLE_NAME": "OrgBackupServiceRole",
    "MEMBER_STACKSET_NAME": "orgbackup-member-baseline",
    "CENTRAL_VAULT_POLICY_ROLE_NAME": "OrgBackupCentralVaultPolicyRole",
}


def load(**overrides: Any) -> Settings:
    return settings_loader.load(Settings, {**BASE, **overrides})


def test_botocore_knows_the_regions_of_every_partition() -> None:
    # Given botocore's Region list
    regions = known_regions()
    # Then it holds commercial, China and GovCloud Regions with their partitions
    assert regions["eu-west-1"] == "aws"
    assert regions["cn-north-1"] == "aws-cn"
    assert regions["us-gov-west-1"] == "aws-us-gov"


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("BACKUP_REGIONS", "eu-west-1,eu-wset-1", "BACKUP_REGIONS='eu-wset-1'"),
        ("BACKUP_REGIONS", "us-esat-1", "BACKUP_REGIONS='us-esat-1'"),
        ("DISASTER_RECOVERY_REGION", "eu-nroth-1", "DISASTER_RECOVERY_REGION='eu-nroth-1'"),
    ],
)
def test_a_well_formed_region_that_does_not_exist_is_refused(key: str, value: str, named: str) -> None:
    # Given a Region name with swapped letters
    # When loading the settings
    with pytest.raises(ConfigurationError) as raised:
        load(**{key: value})
    # Then the error names the variable and value, why, and how to allow a newer Region
    message = str(raised.value)
    assert named in message
    assert "not a Region AWS publishes" in message
    assert "ExtraRegions" in message


def test_a_region_newer_than_botocore_is_accepted_when_listed_as_extra() -> None:
    # Given a Region botocore does not know, listed in EXTRA_REGIONS
    settings = load(
        BACKUP_REGIONS="eu-west-1,xx-newer-1",
        DISASTER_RECOVERY_REGION="xx-newer-2",
        EXTRA_REGIONS="xx-newer-1,xx-newer-2",
    )
    # Then the settings load with it
    assert settings.backup_regions == ("eu-west-1", "xx-newer-1")


def test_a_region_of_another_partition_is_refused() -> None:
    # Given a China Region in a commercial-partition deployment
    with pytest.raises(ConfigurationError) as raised:
        load(DISASTER_RECOVERY_REGION="cn-north-1")
    # Then the error says which partitions clash
    assert "in the aws-cn partition, but this deployment is in the aws partition" in str(raised.value)


def test_a_backup_region_named_twice_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="names a Region twice"):
        load(BACKUP_REGIONS="eu-west-1,eu-west-1")


@pytest.mark.parametrize(
    ("disaster_recovery", "baseline", "copy_from_west", "copy_from_central"),
    [
        ("", ("eu-west-1", "eu-central-1"), None, None),
        ("eu-north-1", ("eu-west-1", "eu-central-1", "eu-north-1"), "eu-north-1", "eu-north-1"),
        # A DR Region that is also a backup Region: its own backups get no DR copy (they are already there).
        ("eu-central-1", ("eu-west-1", "eu-central-1"), "eu-central-1", None),
    ],
)
def test_the_disaster_recovery_region_gets_the_baseline_and_receives_the_other_regions_copies(
    disaster_recovery: str, baseline: tuple[str, ...], copy_from_west: str | None, copy_from_central: str | None
) -> None:
    # Given a disaster-recovery Region (or none)
    settings = load(DISASTER_RECOVERY_REGION=disaster_recovery)
    # Then the member baseline covers it, and each backup Region knows where its DR copy goes
    assert settings.baseline_regions == baseline
    assert settings.disaster_recovery_copy_region("eu-west-1") == copy_from_west
    assert settings.disaster_recovery_copy_region("eu-central-1") == copy_from_central
