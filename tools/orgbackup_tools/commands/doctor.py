"""`orgbackup doctor [--parameter-overrides K=V ...] [--config-env NAME] [--stack-name NAME] [--region R] [--json]`."""

import argparse
import json
import re
import shlex
import sys
import tomllib
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orgbackup.exceptions import ConfigurationError
from orgbackup_tools import deployment, doctor


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the organization and the parameters before (and after) sam deploy; read-only",
        description="Run with the management account's credentials. Exit status 0 when every check holds, 1 when "
        "any is missing, wrong or cannot be told, 2 when the parameters or AWS cannot be read at all.",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="parameters as sam deploy takes them, over the samconfig.toml environment's",
    )
    parser.add_argument("--config-env", default="default", metavar="NAME", help="samconfig.toml environment")
    parser.add_argument("--stack-name", metavar="NAME", help="the deployed stack (default: samconfig.toml's)")
    parser.add_argument("--region", metavar="REGION", help="the home Region (default: samconfig.toml's)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


# sam deploy's long form of one override.
LONG_FORM = re.compile(r"ParameterKey=([^,]+),ParameterValue=(.*)")


def parse_overrides(items: list[str]) -> dict[str, str]:
    """sam deploy's --parameter-overrides forms: Key=Value tokens (quoted values allowed), several per argument, or
    ParameterKey=Key,ParameterValue=Value."""
    overrides: dict[str, str] = {}
    for item in items:
        for token in shlex.split(item):
            long_form = LONG_FORM.fullmatch(token)
            if long_form:
                overrides[long_form.group(1)] = long_form.group(2)
                continue
            key, sep, value = token.partition("=")
            if not sep or not key:
                raise ConfigurationError(f"--parameter-overrides: {token!r} is not Key=Value")
            overrides[key] = value
    return overrides


def samconfig_value(environment: str, command: str, key: str) -> Any:
    path = deployment.PROJECT_ROOT / "samconfig.toml"
    if not path.exists():
        return None
    with path.open("rb") as handle:
        document = tomllib.load(handle)
    section = document.get(environment, {})
    for table in (command, "global"):
        value = section.get(table, {}).get("parameters", {}).get(key)
        if value is not None:
            return value
    return None


def run(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415

    try:
        parameters = deployment.deployment_parameters(environment=args.config_env)
        known = set(deployment.load_template().get("Parameters", {}))
        template_outputs = list(deployment.load_template().get("Outputs", {}))
        stack_name = args.stack_name or samconfig_value(args.config_env, "deploy", "stack_name") or "orgbackup"
        region = args.region or samconfig_value(args.config_env, "deploy", "region")
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"cannot read the deployment parameters: {error}") from error
    overrides = parse_overrides(args.parameter_overrides)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigurationError(f"--parameter-overrides: {', '.join(unknown)} is not a parameter of template.yaml")
    parameters.update(overrides)
    session = boto3.session.Session()
    region = region or session.region_name or "us-east-1"
    checker = doctor.Doctor(
        session, parameters, stack_name=str(stack_name), region=str(region), template_outputs=template_outputs
    )
    try:
        report = checker.run()
    except (BotoCoreError, ClientError) as error:
        print(f"orgbackup doctor: cannot read AWS: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(doctor.render_text(report))
    return 0 if report.ok else 1
