"""Deployment settings shared by every function, read once at handler entry (never at import time)."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from orgbackup import config
from orgbackup.config import pattern
from orgbackup.exceptions import ConfigurationError

# Policy targets: each protected account directly (ACCOUNTS), the organization root (ROOT, resolved at run time,
# or its r-... ID), OUs or accounts.
POLICY_TARGET = rf"ACCOUNTS|ROOT|{config.ROOT_ID}|{config.OU_ID}|{config.ACCOUNT_ID}"


@dataclass(frozen=True)
class Settings:
    organization_id: str = pattern(config.ORGANIZATION_ID, why="must be an organization ID like o-a1b2c3d4e5")
    management_account_id: str = pattern(config.ACCOUNT_ID, why="must be a 12-digit account ID")
    central_backup_account_id: str = pattern(config.ACCOUNT_ID, why="must be a 12-digit account ID")
    backup_regions: tuple[str, ...] = pattern(config.REGION, why="must be a Region name like eu-west-1")
    member_vault_name: str = pattern(config.VAULT_NAME, why="vault names are 2-50 letters, digits, - or _")
    central_vault_name: str = pattern(config.VAULT_NAME, why="vault names are 2-50 letters, digits, - or _")
    backup_role_name: str = pattern(config.IAM_ROLE_NAME, why="must be an IAM role name")
    member_stackset_name: str = pattern(config.STACKSET_NAME, why="must be a StackSet name")
    central_vault_policy_role_name: str = pattern(config.IAM_ROLE_NAME, why="must be an IAM role name")
    # Empty: every OU of the organization is in scope.
    in_scope_ou_ids: tuple[str, ...] = pattern(config.OU_ID, default=(), why="must be an OU ID like ou-ab12-cdef3456")
    excluded_account_ids: tuple[str, ...] = pattern(config.ACCOUNT_ID, default=(), why="must be a 12-digit ID")
    policy_target_ids: tuple[str, ...] = pattern(
        POLICY_TARGET,
        default=("ACCOUNTS",),
        why="must be ACCOUNTS, ROOT, a root ID (r-...), an OU ID (ou-...) or an account ID",
    )
    partition: str = pattern(config.PARTITION, default="aws", why="must be an AWS partition name")
    # Empty: nobody may delete recovery points or change vault policies outside this automation.
    break_glass_principal_arn: str | None = pattern(
        config.IAM_PRINCIPAL_ARN, default=None, why="must be an IAM role or user ARN, or empty"
    )

    def __post_init__(self) -> None:
        if not self.backup_regions:
            raise ConfigurationError("BACKUP_REGIONS is empty: name at least one Region to back up in")
        if self.central_backup_account_id == self.management_account_id:
            raise ConfigurationError(
                f"CENTRAL_BACKUP_ACCOUNT_ID={self.central_backup_account_id!r} is the management account: "
                "the central vault belongs in a separate account"
            )

    @property
    def primary_region(self) -> str:
        """The Region whose central vault receives the cross-account copies."""
        return self.backup_regions[0]

    def central_vault_arn(self, region: str | None = None) -> str:
        return (
            f"arn:{self.partition}:backup:{region or self.primary_region}:{self.central_backup_account_id}:"
            f"backup-vault:{self.central_vault_name}"
        )


def load_settings(values: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (or ``values``); raises ConfigurationError naming the bad variable."""
    return config.load(Settings, os.environ if values is None else values)
