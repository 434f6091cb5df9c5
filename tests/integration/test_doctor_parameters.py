"""`orgbackup doctor` on parameters that do not fit the emulated organization or AWS's rules. The doctor only reads,
so one organization serves every case here."""

from collections.abc import Iterator

import pytest
from doctor_helpers import check, not_ok, run_doctor

from orgbackup_tools import doctor
from orgbackup_tools.simulation import World

# The module-scoped fixture is built once: under xdist every test of this module runs on one worker.
pytestmark = pytest.mark.xdist_group("doctor_parameters_world")


@pytest.fixture(scope="module")
def running() -> Iterator[World]:
    with World.emulate(deploy=False) as world:
        yield world


@pytest.mark.parametrize(
    ("overrides", "name", "result", "found"),
    [
        ({"OrganizationId": "o-zz99zz99zz"}, "organization-id", doctor.WRONG, "the organization is o-ab12cd34ef"),
        ({"CentralBackupAccountId": "999999999999"}, "central-account", doctor.MISSING, "not in the organization"),
        ({"InScopeOuIds": "ou-ab12-11111111,ou-ab12-99999999"}, "in-scope-ous", doctor.WRONG, "ou-ab12-99999999"),
        ({"ExcludedAccountIds": "999999999999"}, "excluded-accounts", doctor.WRONG, "999999999999"),
        ({"PolicyTargetIds": "ou-ab12-99999999"}, "policy-targets", doctor.WRONG, "ou-ab12-99999999"),
        ({"PolicyTargetIds": "r-zz99"}, "policy-targets", doctor.WRONG, "r-zz99"),
        ({"MemberVaultName": "bad name!"}, "parameter-names", doctor.WRONG, "MemberVaultName='bad name!'"),
        ({"MemberKeyAlias": "alias/aws/backup"}, "parameter-names", doctor.WRONG, "MemberKeyAlias"),
        ({"StackSetExecutionRoleName": "no spaces allowed"}, "parameter-names", doctor.WRONG, "StackSetExecution"),
        (
            {"MonthlyColdStorageAfterDays": "300"},
            "backup-policy-parameters",
            doctor.WRONG,
            "MonthlyRetentionDays=365",
        ),
        (
            {"VaultLockMode": "COMPLIANCE", "VaultLockMinRetentionDays": "120"},
            "vault-lock",
            doctor.WRONG,
            "CentralCopyRetentionDays=90 is below VaultLockMinRetentionDays=120",
        ),
        (
            {"VaultLockMode": "GOVERNANCE", "VaultLockMinRetentionDays": "7", "VaultLockMaxRetentionDays": "30"},
            "vault-lock",
            doctor.WRONG,
            "CentralCopyRetentionDays=90 is above VaultLockMaxRetentionDays=30",
        ),
        ({"VaultLockMode": "LOCKED"}, "vault-lock", doctor.WRONG, "VaultLockMode='LOCKED'"),
    ],
)
def test_parameters_that_do_not_fit_the_organization_or_aws(
    running: World, overrides: dict[str, str], name: str, result: str, found: str
) -> None:
    report = run_doctor(running, **overrides)
    failing = check(report, name)
    assert failing.result == result
    assert found in failing.found
    assert not report.ok


def test_a_consistent_vault_lock_passes(running: World) -> None:
    report = run_doctor(
        running,
        VaultLockMode="COMPLIANCE",
        VaultLockMinRetentionDays="30",
        VaultLockMaxRetentionDays="365",
        VaultLockChangeableForDays="3",
    )
    assert not_ok(report) == {}
    assert check(report, "vault-lock").found == "COMPLIANCE lock; copies kept 90 days"
