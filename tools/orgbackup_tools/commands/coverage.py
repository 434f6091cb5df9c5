"""`orgbackup coverage`: is everything protected? The organization's coverage report (accounts x Regions).

By default against the emulated organization (onboarded by the real reconcile run, with seeded jobs: a protected
account, a failed copy, a silent account); with --aws against the organization your credentials reach (run it
with the management account's credentials in the home Region; the deployment settings come from template.yaml's
defaults overlaid by samconfig.toml, as `sam deploy` would pass them).
"""

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE_WORDS = {"protected": "PROTECTED", "at_risk": "AT RISK", "silent": "SILENT"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "coverage",
        help="the organization's coverage report: protected, at risk or silent per account and Region",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    output.add_argument("--html", type=Path, metavar="FILE", help="write the report as a self-contained HTML page")
    parser.add_argument("--aws", action="store_true", help="read the real organization (management account)")
    parser.set_defaults(handler=run)


def text_report(document: dict[str, Any]) -> str:
    totals = document["totals"]
    lines = [
        f"Coverage of {document['organization_id']} at {document['generated_at']}: "
        f"{totals['protected']} protected, {totals['at_risk']} at risk, {totals['silent']} silent "
        f"({totals['cells']} account x Region cells)",
        "",
    ]
    for account in document["accounts"]:
        lines.append(f"{account['name']} ({account['account_id']})")
        for region, cell in account["cells"].items():
            lines.append(f"  {region:<15} {STATE_WORDS[cell['state']]:<10} {cell['reason']}")
    return "\n".join(lines) + "\n"


def _from_aws(now: datetime) -> tuple[dict[str, Any], str]:
    from orgbackup import aws, coverage_report, settings_loader  # noqa: PLC0415
    from orgbackup.settings import Settings  # noqa: PLC0415
    from orgbackup_tools.deployment import deployment_parameters  # noqa: PLC0415

    values = deployment_parameters()
    values["ManagementAccountId"] = aws.client("sts").get_caller_identity()["Account"]
    values.setdefault("Partition", "aws")
    settings = settings_loader.load(Settings, values, naming="cfn")
    clients = {region: aws.client("backup", region) for region in settings.backup_regions}
    inputs = coverage_report.gather(settings, aws.client("organizations"), aws.client("cloudformation"), clients, now)
    return coverage_report.produce(settings, inputs)


def run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.html is not None and not args.html.parent.is_dir():
        print(f"orgbackup coverage: cannot write {args.html}: {args.html.parent} is not a directory", file=sys.stderr)
        return 2
    if args.aws:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            document, page = _from_aws(now)
        except (BotoCoreError, ClientError) as error:
            print(f"orgbackup coverage: cannot read the organization from AWS: {error}", file=sys.stderr)
            return 2
    else:
        from orgbackup_tools.coverage_demo import emulated_coverage  # noqa: PLC0415

        with emulated_coverage(now) as (_, document, page):
            pass
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    if args.html is not None:
        try:
            args.html.write_text(page, encoding="utf-8")
        except OSError as error:
            print(f"orgbackup coverage: cannot write {args.html}: {error}", file=sys.stderr)
            return 2
        print(f"wrote {args.html}", file=sys.stderr)
    print(text_report(document), end="")
    return 0
