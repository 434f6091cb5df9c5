"""Deployment values for policy tests: the longest the parameters allow, with the longest Region names."""

from orgbackup import settings_loader
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.render import RenderedPolicy, render_policies
from orgbackup.regions import known_regions
from orgbackup.settings import Settings

DEPLOYMENT = {
    "OrganizationId": "o-a1b2c3d4e5",
    "ManagementAccountId": "111111111111",
    "CentralBackupAccountId": "222222222222",
    "BackupRegions": "eu-west-1,eu-central-1,us-east-1",
    "MemberVaultName": "orgbackup-member",
    "CentralVaultName": "orgbackup-central",
    "BackupRoleName": "OrgBackupServiceRole",
    "MemberStacksetName": "orgbackup-member-baseline",
    "CentralVaultPolicyRoleName": "OrgBackupCentralVaultPolicyRole",
}
# The commercial Regions with the longest names (14 characters: ap-southeast-5 ...), longest first: the 18th is
# the disaster-recovery Region of the worst case, the 17 before it the backup Regions.
LONGEST_REGIONS = sorted((name for name, part in known_regions().items() if part == "aws"), key=lambda r: (-len(r), r))
# The longest values the deployment parameters accept (a prefix that still leaves room for
# "-monthly-ap-southeast-5" in a 50-character plan name), and a long but realistic cron schedule.
LONGEST_DEPLOYMENT = {
    **DEPLOYMENT,
    "OrganizationId": "o-" + "a" * 32,
    "MemberVaultName": "m" * 50,
    "CentralVaultName": "c" * 50,
    "BackupRoleName": "r" * 64,
}
LONGEST_PARAMETERS = PolicyParameters(
    policy_name_prefix="p" * 27,
    backup_tag_key="k" * 128,
    daily_tag_value="d" * 128,
    monthly_tag_value="m" * 128,
    daily_schedule="cron(59 23 ? JAN,FEB,MAR,APR,MAY,JUN,JUL,AUG,SEP,OCT,NOV,DEC MON-FRI 2030-2199)",
    monthly_schedule="cron(59 23 L JAN,FEB,MAR,APR,MAY,JUN,JUL,AUG,SEP,OCT,NOV,DEC ? 2030-2199)",
    daily_retention_days=36500,
    monthly_retention_days=36500,
    monthly_cold_storage_after_days=36000,
    start_window_minutes=99999,
    completion_window_minutes=99999,
    central_copy_retention_days=36500,
)


def largest_render() -> list[RenderedPolicy]:
    """The most documents the shipped templates produce: 17 backup Regions and a DR Region, longest values."""
    deployment = {
        **LONGEST_DEPLOYMENT,
        "BackupRegions": ",".join(LONGEST_REGIONS[1:18]),
        "DisasterRecoveryRegion": LONGEST_REGIONS[0],
    }
    return render_policies(settings_loader.load(Settings, deployment, naming="cfn"), LONGEST_PARAMETERS)
