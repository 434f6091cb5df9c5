"""The read APIs `orgbackup doctor` needs, as orgbackup_tools.emulation adds them to moto: AWS Backup's global
settings, Account Management's Region opt-in status and Control Tower's enabled baselines, each as its API reference
documents."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from emulated_accounts import session_in
from moto import mock_aws

from orgbackup_tools import emulation

REGION = "us-east-1"


@pytest.fixture
def org() -> Iterator[Any]:
    with mock_aws(), emulation.aws_extensions():
        client = boto3.client("organizations", region_name=REGION)
        client.create_organization(FeatureSet="ALL")
        yield client


def member(org: Any, name: str = "member") -> str:
    account_id: str = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"][
        "AccountId"
    ]
    return account_id


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


# --- AWS Backup global settings ---------------------------------------------------------------------------------


def test_without_the_extension_moto_has_no_backup_global_settings() -> None:
    with mock_aws(), pytest.raises(ClientError) as raised:
        boto3.client("backup", region_name=REGION).describe_global_settings()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_global_settings_are_off_until_the_management_account_turns_them_on(org: Any) -> None:
    backup = boto3.client("backup", region_name=REGION)
    assert backup.describe_global_settings()["GlobalSettings"] == {
        "isCrossAccountBackupEnabled": "false",
        "isMpaEnabled": "false",
        "isDelegatedAdministratorEnabled": "false",
    }
    backup.update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "true"})
    assert backup.describe_global_settings()["GlobalSettings"]["isCrossAccountBackupEnabled"] == "true"


def test_only_the_management_account_may_update_global_settings(org: Any) -> None:
    other = session_in(member(org)).client("backup")
    with pytest.raises(ClientError) as raised:
        other.update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "true"})
    assert error_code(raised) == "InvalidRequestException"
    assert other.describe_global_settings()["GlobalSettings"]["isCrossAccountBackupEnabled"] == "false"


def test_describing_global_settings_outside_an_organization_is_an_error() -> None:
    with mock_aws(), emulation.aws_extensions(), pytest.raises(ClientError) as raised:
        boto3.client("backup", region_name=REGION).describe_global_settings()
    assert error_code(raised) == "InvalidRequestException"


# --- Account Management: Region opt-in status -------------------------------------------------------------------


def test_default_regions_are_enabled_by_default_and_opt_in_regions_disabled_until_enabled(org: Any) -> None:
    account = boto3.client("account", region_name=REGION)
    assert account.get_region_opt_status(RegionName="eu-west-1")["RegionOptStatus"] == "ENABLED_BY_DEFAULT"
    assert account.get_region_opt_status(RegionName="eu-south-1")["RegionOptStatus"] == "DISABLED"
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    emulation.set_region_opt_status(management, "eu-south-1", "ENABLED")
    assert account.get_region_opt_status(RegionName="eu-south-1")["RegionOptStatus"] == "ENABLED"


def test_reading_a_member_account_needs_trusted_access_for_account_management(org: Any) -> None:
    account = boto3.client("account", region_name=REGION)
    member_id = member(org)
    with pytest.raises(ClientError) as raised:
        account.get_region_opt_status(RegionName="eu-south-1", AccountId=member_id)
    assert error_code(raised) == "AccessDeniedException"
    org.enable_aws_service_access(ServicePrincipal="account.amazonaws.com")
    emulation.set_region_opt_status(member_id, "eu-south-1", "ENABLING")
    status = account.get_region_opt_status(RegionName="eu-south-1", AccountId=member_id)
    assert status == {
        "RegionName": "eu-south-1",
        "RegionOptStatus": "ENABLING",
        "ResponseMetadata": status["ResponseMetadata"],
    }


def test_account_id_is_refused_for_the_management_account_itself_a_non_member_and_a_member_caller(org: Any) -> None:
    org.enable_aws_service_access(ServicePrincipal="account.amazonaws.com")
    account = boto3.client("account", region_name=REGION)
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    with pytest.raises(ClientError) as own:
        account.get_region_opt_status(RegionName="eu-south-1", AccountId=management)
    assert error_code(own) == "ValidationException"
    with pytest.raises(ClientError) as stranger:
        account.get_region_opt_status(RegionName="eu-south-1", AccountId="999999999999")
    assert error_code(stranger) == "AccessDeniedException"
    first, second = member(org, "first"), member(org, "second")
    with pytest.raises(ClientError) as from_member:
        session_in(first).client("account").get_region_opt_status(RegionName="eu-south-1", AccountId=second)
    assert error_code(from_member) == "AccessDeniedException"


def test_an_unknown_region_name_is_a_validation_error(org: Any) -> None:
    with pytest.raises(ClientError) as raised:
        boto3.client("account", region_name=REGION).get_region_opt_status(RegionName="mars-north-1")
    assert error_code(raised) == "ValidationException"


# --- Control Tower: enabled baselines ---------------------------------------------------------------------------


def test_without_the_extension_moto_has_no_control_tower() -> None:
    with mock_aws(), pytest.raises(ClientError) as raised:
        boto3.client("controltower", region_name=REGION).list_enabled_baselines()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_enabled_baselines_are_filtered_by_target_and_children_listed_only_when_asked(org: Any) -> None:
    ou = "arn:aws:organizations::111111111111:ou/o-ab12cd34ef/ou-ab12-11111111"
    other_ou = "arn:aws:organizations::111111111111:ou/o-ab12cd34ef/ou-ab12-22222222"
    account = "arn:aws:organizations::111111111111:account/o-ab12cd34ef/333333333333"
    parent = emulation.enable_baseline(ou)
    emulation.enable_baseline(other_ou, status="FAILED")
    emulation.enable_baseline(account, parent_arn=parent)
    controltower = boto3.client("controltower", region_name=REGION)

    def targets(**kwargs: Any) -> list[tuple[str, str]]:
        listed = controltower.list_enabled_baselines(**kwargs)["enabledBaselines"]
        return [(item["targetIdentifier"], item["statusSummary"]["status"]) for item in listed]

    assert targets() == [(ou, "SUCCEEDED"), (other_ou, "FAILED")]
    assert targets(filter={"targetIdentifiers": [other_ou]}) == [(other_ou, "FAILED")]
    assert targets(filter={"targetIdentifiers": [account]}) == []
    assert targets(filter={"targetIdentifiers": [account]}, includeChildren=True) == [(account, "SUCCEEDED")]
    child = controltower.list_enabled_baselines(filter={"targetIdentifiers": [account]}, includeChildren=True)
    assert child["enabledBaselines"][0]["parentIdentifier"] == parent


def test_more_than_five_target_identifiers_is_a_validation_error(org: Any) -> None:
    arns = [f"arn:aws:organizations::111111111111:ou/o-ab12cd34ef/ou-ab12-0000000{i}" for i in range(6)]
    with pytest.raises(ClientError) as raised:
        boto3.client("controltower", region_name=REGION).list_enabled_baselines(filter={"targetIdentifiers": arns})
    assert error_code(raised) == "ValidationException"
