"""The deployment values that backup policy templates are rendered with (beyond the shared Settings).

Each field is a CloudFormation parameter of `template.yaml` (``daily_schedule`` is ``DailySchedule``) and an
environment variable of the functions (``DAILY_SCHEDULE``); see ``orgbackup.settings_loader``.
"""

from dataclasses import dataclass

from orgbackup.settings_loader import pattern

# The AWS Backup schedule expression forms: cron(...) with six fields, or rate(...).
SCHEDULE = r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)"
TAG = r"[\w .:/=+\-@]{1,128}"


@dataclass(frozen=True)
class PolicyParameters:
    policy_name_prefix: str = pattern(r"[a-zA-Z0-9_-]{1,42}", default="orgbackup", why="letters, digits, - or _")
    backup_tag_key: str = pattern(TAG, default="backup-plan", why="must be a valid tag key")
    daily_tag_value: str = pattern(TAG, default="daily", why="must be a valid tag value")
    monthly_tag_value: str = pattern(TAG, default="monthly", why="must be a valid tag value")
    daily_schedule: str = pattern(SCHEDULE, default="cron(0 5 ? * * *)", why="must be cron(6 fields) or rate(...)")
    daily_retention_days: int = 35
    monthly_schedule: str = pattern(SCHEDULE, default="cron(0 5 1 * ? *)", why="must be cron(6 fields) or rate(...)")
    monthly_retention_days: int = 365
    # 0 turns cold storage off; otherwise retention must be at least this + 90 days.
    monthly_cold_storage_after_days: int = 0
    start_window_minutes: int = 60
    completion_window_minutes: int = 480
    central_copy_retention_days: int = 90
    # The central vault's Vault Lock (the central StackSet applies it): copies into the central vault must keep a
    # retention inside its range, so the policies are checked against it before anything is deployed.
    vault_lock_mode: str = pattern("NONE|GOVERNANCE|COMPLIANCE", default="NONE", why="NONE, GOVERNANCE or COMPLIANCE")
    vault_lock_min_retention_days: int = 7
    vault_lock_max_retention_days: int = 0  # 0: no maximum
