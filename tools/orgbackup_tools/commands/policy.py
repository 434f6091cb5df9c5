"""`orgbackup policy validate FILE...` and `orgbackup policy render [--out DIR]`."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from orgbackup import settings_loader
from orgbackup.exceptions import ConfigurationError
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.render import MAX_POLICIES_PER_TARGET, RenderedPolicy, render_policies
from orgbackup.policies.validate import MAX_POLICY_CHARACTERS, PolicyIssue, validate_policy_text
from orgbackup.settings import Settings
from orgbackup_tools import deployment

# template.yaml takes the management account from AWS::AccountId at deploy time, so it is no deployment parameter.
# Backup policies never name it; offline rendering stands this in unless the deployer gives the real one.
MANAGEMENT_ACCOUNT_STAND_IN = "000000000000"


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("policy", help="validate and render the organization's backup policies")
    commands = parser.add_subparsers(dest="policy_command", required=True)

    validate = commands.add_parser(
        "validate",
        help="check backup policy files against the Organizations backup policy language",
        description="Exit status 0 when every file is valid, 1 when a policy is invalid (or not JSON), 2 when a file "
        "cannot be read or is not UTF-8 text.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", type=Path, help="backup policy JSON file")
    validate.add_argument("--json", action="store_true", help="print a JSON list of {file, valid, errors}")
    validate.add_argument(
        "--standalone",
        action="store_true",
        help="also require what a policy needs to back anything up on its own (regions, rules, selections, ...); "
        "without it a file may hold only the settings it overrides in inherited policies",
    )
    validate.add_argument(
        "--extra-regions",
        type=settings_loader.split_list,
        default=(),
        metavar="R1,R2",
        help="Regions to accept besides the ones the installed botocore knows (a Region newer than botocore)",
    )
    validate.set_defaults(handler=run_validate)

    render = commands.add_parser(
        "render",
        help="render the backup policies from template.yaml and samconfig.toml",
        description=f"Prints each policy's size against the {MAX_POLICY_CHARACTERS:,}-character limit, the backup "
        f"Regions whose plans it holds, and the number of policies against the {MAX_POLICIES_PER_TARGET} a target "
        "takes.",
    )
    render.add_argument("--out", type=Path, metavar="DIR", help="write <policy name>.json (minified) into DIR")
    render.add_argument(
        "--config-env", default="default", metavar="NAME", help="samconfig.toml environment (default: default)"
    )
    render.add_argument(
        "--management-account-id",
        metavar="ID",
        help="the management account (template.yaml uses the deploying account; the policies do not name it)",
    )
    render.set_defaults(handler=run_render)


# The rule of an issue that is about the file, not the policy: the exit status is then 2 (unusable file).
UNREADABLE = "unreadable-file"


def _check_file(path: Path, *, standalone: bool, extra_regions: tuple[str, ...]) -> list[PolicyIssue]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return [PolicyIssue("$", f"cannot read the file: {error.strerror or error}", UNREADABLE)]
    except UnicodeDecodeError as error:
        return [
            PolicyIssue("$", f"cannot read the file: not UTF-8 text ({error.reason} at byte {error.start})", UNREADABLE)
        ]
    return validate_policy_text(text, standalone=standalone, extra_regions=extra_regions)


def run_validate(args: argparse.Namespace) -> int:
    results = [
        (path, _check_file(path, standalone=args.standalone, extra_regions=args.extra_regions)) for path in args.files
    ]
    unusable = any(issue.rule == UNREADABLE for _, issues in results for issue in issues)
    if args.json:
        report: list[dict[str, Any]] = [
            {"file": str(path), "valid": not issues, "errors": [issue.as_dict() for issue in issues]}
            for path, issues in results
        ]
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for path, issues in results:
            if not issues:
                print(f"{path}: valid")
            for issue in issues:
                print(f"{path}: {issue.path}: {issue.message}")
    if unusable:
        return 2
    return 0 if all(not issues for _, issues in results) else 1


def _size_line(policy: RenderedPolicy) -> str:
    share = policy.size / MAX_POLICY_CHARACTERS
    regions = f"; plans for {', '.join(policy.regions)}" if policy.regions else ""
    return f"{policy.size:,} of {MAX_POLICY_CHARACTERS:,} characters ({share:.0%}){regions}"


def _count_line(policies: list[RenderedPolicy]) -> str:
    return (
        f"{len(policies)} of the {MAX_POLICIES_PER_TARGET} backup policies AWS Organizations attaches to one target "
        "(the organization's other backup policies attached to the same targets count too)"
    )


def run_render(args: argparse.Namespace) -> int:
    try:
        parameters = deployment.deployment_parameters(environment=args.config_env)
    except OSError as error:
        raise ConfigurationError(f"cannot read the deployment parameters: {error}") from error
    if args.management_account_id:
        parameters["ManagementAccountId"] = args.management_account_id
    parameters.setdefault("ManagementAccountId", MANAGEMENT_ACCOUNT_STAND_IN)
    settings = settings_loader.load(Settings, parameters, naming="cfn")
    params = settings_loader.load(PolicyParameters, parameters, naming="cfn")
    policies = render_policies(settings, params)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    for policy in policies:
        if args.out is None:
            print(f"# {policy.name}: {_size_line(policy)}")
            print(f"# {policy.description}")
            print(json.dumps(policy.document, indent=2, ensure_ascii=False))
        else:
            target = args.out / f"{policy.name}.json"
            target.write_text(policy.content, encoding="utf-8")
            print(f"{policy.name}: {_size_line(policy)} -> {target}")
    print(f"# {_count_line(policies)}" if args.out is None else _count_line(policies))
    sys.stdout.flush()
    return 0
