"""`orgbackup recover --recovery-point ARN --to-account ID [--region R] [--dry-run] [--json] [--emulated]`: copy a
recovery point from the central vault back into the account's member vault, ready for a restore.

Against AWS it runs with the caller's credentials, which must be the central backup account's (``--profile``):
StartCopyJob runs in the account of the source vault and names the central baseline's backup role. The member
vault's existence and access policy are checked when ``--member-profile`` gives credentials in the member account
(otherwise the check says it was not made; the copy job would fail with the reason). ``--emulated`` runs the same
code against the emulated organization: the account is onboarded by the real workflow, and the central vault holds
a recovery point with the ARN you give (a copy of one of the account's resources, as the backup policy's copy
action leaves it).

Exit status: 0 copied (``--dry-run``: every precondition met), 1 a precondition failed or the copy job did not
complete, 2 unusable arguments or deployment parameters.
"""

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from orgbackup import settings_loader
from orgbackup.aws.backup import BackupCopies
from orgbackup.exceptions import ConfigurationError, InvalidInputError
from orgbackup.protection.recovery import (
    AccountReader,
    CopyResult,
    Layout,
    RecoveryPlan,
    copy_back,
    parse_request,
    plan_recovery,
)
from orgbackup.settings import Settings
from orgbackup_tools import deployment

CENTRAL_TEMPLATE = deployment.PROJECT_ROOT / "stacksets" / "central-backup-account.yaml"
MANAGEMENT_ACCOUNT_STAND_IN = "000000000000"


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "recover",
        help="copy a recovery point from the central vault back to an account's vault, ready for a restore",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--recovery-point", required=True, metavar="ARN", help="recovery point in the central vault")
    parser.add_argument("--to-account", required=True, metavar="ID", help="the member account to copy it back to")
    parser.add_argument(
        "--region", metavar="REGION", help="the member vault's Region (default: the recovery point's own Region)"
    )
    parser.add_argument("--dry-run", action="store_true", help="check the preconditions and say what would happen")
    parser.add_argument("--json", action="store_true", help="print the plan and the result as JSON")
    parser.add_argument("--emulated", action="store_true", help="run against the emulated organization (moto)")
    parser.add_argument("--profile", metavar="NAME", help="AWS profile of the central backup account")
    parser.add_argument("--member-profile", metavar="NAME", help="AWS profile of the member account (for checks)")
    parser.add_argument("--config-env", default="default", metavar="NAME", help="samconfig.toml environment")
    parser.add_argument("--poll-seconds", type=float, default=10.0, help="seconds between reads of the copy job")
    parser.add_argument("--max-polls", type=int, default=360, help="reads of the copy job before giving up")
    parser.set_defaults(handler=run)


def layout_from(parameters: dict[str, str]) -> Layout:
    """Where the central vault, its backup role and the member vaults are, from the deployment parameters."""
    parameters = {**parameters}
    parameters.setdefault("ManagementAccountId", MANAGEMENT_ACCOUNT_STAND_IN)
    settings = settings_loader.load(Settings, parameters, naming="cfn")
    central = deployment.load_template(CENTRAL_TEMPLATE)["Parameters"]
    role_name = parameters.get("CentralBackupRoleName") or str(central["CentralBackupRoleName"]["Default"])
    return Layout(
        partition=settings.partition,
        central_account_id=settings.central_backup_account_id,
        central_vault_name=settings.central_vault_name,
        central_backup_role_name=role_name,
        member_vault_name=settings.member_vault_name,
        backup_regions=settings.backup_regions,
    )


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.last_state: str | None = None

    def say(self, text: str) -> None:
        if not self.as_json:
            print(text, flush=True)

    def plan(self, plan: RecoveryPlan) -> None:
        self.say(f"copy {plan.recovery_point_arn}")
        self.say(f"  from {plan.source_vault_arn}")
        self.say(f"  to   {plan.destination_vault_arn}")
        self.say(f"  as   {plan.role_arn} (StartCopyJob in the central account, {plan.source_region})")
        for check in plan.checks:
            mark = {True: "ok  ", False: "FAIL", None: "??  "}[check.ok]
            self.say(f"  [{mark}] {check.name}: {check.detail}")

    def progress(self, job: dict[str, Any], poll: int) -> None:
        state = str(job.get("State"))
        if state != self.last_state:
            self.say(f"  copy job {job.get('CopyJobId')}: {state} (read {poll})")
            self.last_state = state


def run(args: argparse.Namespace) -> int:
    if args.poll_seconds < 0 or args.max_polls < 1:
        raise InvalidInputError("--poll-seconds must be >= 0 and --max-polls >= 1")
    context = _emulated if args.emulated else _aws
    with context(args) as (layout, central, reader, member):
        plan = plan_recovery(args.recovery_point, args.to_account, args.region, layout, central, reader, member)
        return _finish(args, plan, central, layout)


def _finish(args: argparse.Namespace, plan: RecoveryPlan, central: BackupCopies, layout: Layout) -> int:
    out = Output(args.json)
    out.plan(plan)
    report: dict[str, Any] = {"plan": plan.as_dict(), "dry_run": args.dry_run, "copy_job": None}
    if not plan.ready:
        out.say("not copied: a precondition failed (above)")
        _print_json(args, report)
        return 1
    if args.dry_run:
        out.say("dry run: every precondition that could be checked is met; nothing was copied")
        _print_json(args, report)
        return 0
    result: CopyResult = copy_back(
        plan,
        central,
        central_vault_name=layout.central_vault_name,
        on_progress=out.progress,
        poll_seconds=args.poll_seconds,
        max_polls=args.max_polls,
    )
    report["copy_job"] = {
        "id": result.job_id,
        "state": result.state,
        "status_message": result.status_message,
        "recovery_point_arn": result.destination_recovery_point_arn,
    }
    _print_json(args, report)
    if result.state != "COMPLETED" or not result.destination_recovery_point_arn:
        out.say(f"copy job {result.job_id} ended {result.state}: {result.status_message or 'no message'}")
        return 1
    out.say(f"recovery point in the member vault: {result.destination_recovery_point_arn}")
    out.say(
        f"restore it in account {plan.to_account} ({plan.region}): aws backup start-restore-job "
        f"--recovery-point-arn {result.destination_recovery_point_arn} --iam-role-arn <restore role> --metadata ..."
    )
    return 0


def _print_json(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(report, indent=2))
        sys.stdout.flush()


Context = tuple[Layout, BackupCopies, AccountReader, BackupCopies | None]


@contextlib.contextmanager
def _aws(args: argparse.Namespace) -> Iterator[Context]:
    import boto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        parameters = deployment.deployment_parameters(environment=args.config_env)
    except OSError as error:
        raise ConfigurationError(f"cannot read the deployment parameters: {error}") from error
    layout = layout_from(parameters)
    source_region, destination_region = parse_request(args.recovery_point, args.to_account, args.region, layout)
    try:
        session = boto3.session.Session(profile_name=args.profile)
        account = session.client("sts", region_name=source_region).get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        raise ConfigurationError(f"cannot use the central account's credentials: {error}") from error
    if account != layout.central_account_id:
        raise ConfigurationError(
            f"the credentials are for account {account}; run with the central backup account's "
            f"({layout.central_account_id}), e.g. --profile"
        )
    central = BackupCopies(session.client("backup", region_name=source_region))
    organization_id = parameters.get("OrganizationId")
    reader = AccountReader(session.client("iam"), session.client("kms", region_name=source_region), organization_id)
    member = None
    if args.member_profile:
        member_session = boto3.session.Session(profile_name=args.member_profile)
        member = BackupCopies(member_session.client("backup", region_name=destination_region))
    yield layout, central, reader, member


@contextlib.contextmanager
def _emulated(args: argparse.Namespace) -> Iterator[Context]:
    from orgbackup_tools import emulation, simulation  # noqa: PLC0415 - moto loads only here

    spec = simulation.OrgSpec()
    # The arguments are checked before the emulated organization is built.
    layout = layout_from(simulation.simulation_parameters(spec))
    source_region, destination_region = parse_request(args.recovery_point, args.to_account, args.region, layout)
    members = {account.account_id for account in spec.accounts} - {layout.central_account_id}
    if args.to_account not in members:
        raise InvalidInputError(
            f"--to-account: {args.to_account} is not a member account of the emulated organization "
            f"({', '.join(sorted(members))})"
        )
    with simulation.World.emulate(spec) as world:
        say = Output(args.json).say
        say(f"emulated organization: onboarding {args.to_account} with the real workflow")
        world.execute({"mode": "manual", "account_ids": [args.to_account]})
        resource_type, resource_arn = _emulated_resource(args.recovery_point, args.to_account, source_region)
        emulation.add_recovery_point(
            layout.central_account_id,
            source_region,
            layout.central_vault_name,
            resource_arn=resource_arn,
            resource_type=resource_type,
            recovery_point_arn=args.recovery_point,
            source_vault_arn=layout.vault_arn(source_region, args.to_account, layout.member_vault_name),
        )
        say(f"emulated central vault holds {args.recovery_point}: a copy of {resource_type} {resource_arn}")
        central_session = simulation.session_in(world, layout.central_account_id, source_region)
        member_session = simulation.session_in(world, args.to_account, destination_region)
        central = BackupCopies(central_session.client("backup"))
        reader = AccountReader(central_session.client("iam"), central_session.client("kms"), spec.organization_id)
        member = BackupCopies(member_session.client("backup"))
        args.poll_seconds = 0.0
        yield layout, central, reader, member


def _emulated_resource(arn: str, account_id: str, region: str) -> tuple[str, str]:
    """The resource a recovery point of this ARN form backs up (the form says the type)."""
    resource = arn.split(":", 5)[5]
    if ":ec2:" in arn and resource.startswith("snapshot/"):
        return "EBS", f"arn:aws:ec2:{region}:{account_id}:volume/vol-0123456789abcdef0"
    if ":ec2:" in arn and resource.startswith("image/"):
        return "EC2", f"arn:aws:ec2:{region}:{account_id}:instance/i-0123456789abcdef0"
    if ":rds:" in arn and resource.startswith("cluster-snapshot:"):
        return "Aurora", f"arn:aws:rds:{region}:{account_id}:cluster:orders"
    if ":rds:" in arn:
        return "RDS", f"arn:aws:rds:{region}:{account_id}:db:orders"
    return "S3", "arn:aws:s3:::orders-archive"
