"""`orgbackup protection check [--inventory FILE] [--json]` and `orgbackup protection key-statement`.

``check``: for every resource type AWS Backup supports and every backup Region, from `template.yaml`, the StackSet
templates, the deployment parameters (`samconfig.toml`, overlaid by ``--parameter-overrides Key=Value ...``) and
the rendered backup policies: is it selected by a plan, backed up into which vault with which key, copied to the
central vault (and a disaster-recovery Region) - allowed or not, by which AWS rule - and is there a way back for a
restore. ``--inventory FILE``: a JSON list of ``{"arn", "kms_key_arn"?, "key_manager"? ("AWS" | "CUSTOMER"),
"tags"?, "resource_type"?, "region"?}``, each judged the same way. Exit status: 0 the report was made, 1 the
inventory is invalid (the error names the entry and field), 2 an unusable file or deployment parameters.

``key-statement``: the key policy statements a workload's customer managed key needs so that its backups can be
copied into the central vault.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from orgbackup import settings_loader
from orgbackup.exceptions import ConfigurationError, InvalidInputError
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.render import render_policies
from orgbackup.protection.key_statement import missing_for_copy, workload_key_statements
from orgbackup.protection.rules import load_rule_book
from orgbackup.settings import Settings
from orgbackup_tools import deployment
from orgbackup_tools.protection_check import Baselines, Checker, parse_inventory, read_inventory, stackset_values

MANAGEMENT_ACCOUNT_STAND_IN = "000000000000"
STATUS_TEXT = {
    "allowed": "yes",
    "refused": "NO",
    "depends-on-key": "if key shared",
    "none": "-",
}


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("protection", help="what is backed up, copied and restorable, and why")
    commands = parser.add_subparsers(dest="protection_command", required=True)
    check = commands.add_parser(
        "check",
        help="every supported resource type and backup Region (and an inventory's resources), judged offline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--inventory", type=Path, metavar="FILE", help="JSON list of resources to judge")
    check.add_argument("--json", action="store_true", help='print {"types": [...], "resources": [...]}')
    check.add_argument("--config-env", default="default", metavar="NAME", help="samconfig.toml environment")
    check.add_argument(
        "--parameter-overrides", nargs="+", default=[], metavar="KEY=VALUE", help="deployment parameters to override"
    )
    check.set_defaults(handler=run_check)
    statement = commands.add_parser(
        "key-statement", help="the key policy statements a workload key needs for copies into the central vault"
    )
    statement.add_argument("--central-account-id", metavar="ID", help="default: CentralBackupAccountId deployed")
    statement.add_argument("--partition", default="aws", help="AWS partition (default: aws)")
    statement.add_argument("--config-env", default="default", metavar="NAME", help="samconfig.toml environment")
    statement.add_argument(
        "--check-policy",
        type=Path,
        metavar="FILE",
        help="a workload key's policy (JSON): say what it lacks for the copies (exit 1 when something is missing)",
    )
    statement.set_defaults(handler=run_key_statement)


def _parameters(args: argparse.Namespace) -> dict[str, str]:
    try:
        parameters = deployment.deployment_parameters(environment=args.config_env)
    except OSError as error:
        raise ConfigurationError(f"cannot read the deployment parameters: {error}") from error
    for item in getattr(args, "parameter_overrides", []):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--parameter-overrides: {item!r} is not Key=Value")
        parameters[key] = value
    parameters.setdefault("ManagementAccountId", MANAGEMENT_ACCOUNT_STAND_IN)
    return parameters


def build_report(parameters: dict[str, str], inventory: Path | None) -> dict[str, Any]:
    settings = settings_loader.load(Settings, parameters, naming="cfn")
    params = settings_loader.load(PolicyParameters, parameters, naming="cfn")
    rules = load_rule_book()
    try:
        entries = parse_inventory(read_inventory(inventory), rules, settings) if inventory else []
    except InvalidInputError as error:
        raise InvalidInputError(f"{inventory}: {error}") from error  # which file, then which entry and field
    policies = [(policy.name, policy.document) for policy in render_policies(settings, params)]
    baselines = Baselines.load(settings, stackset_values(deployment.load_template(), parameters))
    checker = Checker(settings, rules, policies, baselines)
    return {
        "types": [verdict.as_dict() for verdict in checker.types()],
        "resources": [checker.resource(entry) for entry in entries],
    }


def run_check(args: argparse.Namespace) -> int:
    try:
        report = build_report(_parameters(args), args.inventory)
    except InvalidInputError as error:
        # A readable inventory with wrong content is invalid input (1); an unreadable one is unusable (2, cli.main).
        print(f"orgbackup: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    sys.stdout.flush()
    return 0


def _row(item: dict[str, Any]) -> list[str]:
    backup = item["backup"]
    return [
        item.get("resource_type") or "?",
        item["region"],
        ("yes: " + ", ".join(backup["vaults"])) if backup["selected"] else "NO",
        STATUS_TEXT[item["central_copy"]["status"]],
        STATUS_TEXT[item["dr_copy"]["status"]],
        item["restore_path"]["status"],
    ]


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    for row in [header, ["-" * width for width in widths], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_report(report: dict[str, Any]) -> None:
    header = ["TYPE", "REGION", "BACKUP (vault)", "CENTRAL COPY", "DR COPY", "RESTORE"]
    _table([_row(item) for item in report["types"]], header)
    print("\nWhy (per type; a line that holds in some Regions only names them):")
    by_type: dict[str, dict[str, list[str]]] = {}
    for item in report["types"]:
        lines = by_type.setdefault(item["resource_type"], {})
        for reason in item["reasons"]:
            lines.setdefault(f"{reason['text']} [{reason['source']}]", []).append(item["region"])
    regions = sorted({item["region"] for item in report["types"]})
    for resource_type, lines in by_type.items():
        print(f"  {resource_type}:")
        for line, where in lines.items():
            prefix = "" if sorted(where) == regions else f"({', '.join(where)}) "
            print(f"    - {prefix}{line}")
    if report["resources"]:
        print("\nResources:")
        for item in report["resources"]:
            if not item.get("supported"):
                print(f"  {item['arn']}: {item['reasons'][0]['text']}")
                continue
            cells = _row(item)
            print(
                f"  {item['arn']} ({cells[0]}, {cells[1]}): backup {cells[2]}; central copy {cells[3]}; "
                f"DR copy {cells[4]}; restore {cells[5]}"
            )
            for reason in item["reasons"]:
                print(f"    - {reason['text']}")


def run_key_statement(args: argparse.Namespace) -> int:
    account = args.central_account_id or _parameters(args).get("CentralBackupAccountId", "")
    statements = workload_key_statements(account, args.partition)
    if args.check_policy is None:
        print(json.dumps(statements, indent=2))
        return 0
    try:
        policy = json.loads(args.check_policy.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ConfigurationError(f"{args.check_policy}: cannot read a JSON key policy: {error!r:.200}") from error
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list):
        raise InvalidInputError(
            f"{args.check_policy}: not a key policy: a JSON object with a Statement list, not {type(policy).__name__}"
        )
    missing = missing_for_copy(policy, account, args.partition)
    if not missing:
        print(f"{args.check_policy}: the key lets the central account {account} copy its backups")
        return 0
    print(f"{args.check_policy}: missing for copies into the central vault: {'; '.join(missing)}")
    print("add these statements to the key policy:")
    print(json.dumps(statements, indent=2))
    return 1
