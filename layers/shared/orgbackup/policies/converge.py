"""What the deployment does with backup policies: render them from the settings, then converge the organization.

Used by the custom resource (every deploy creates or updates them; deleting the stack removes them) and by the
onboarding workflow (reattach after new accounts get their baseline).
"""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from orgbackup.aws.organizations import Organizations
from orgbackup.custom_resource import CustomResourceRequest, Outcome
from orgbackup.exceptions import ConfigurationError
from orgbackup.policies.apply import (
    ApplyReport,
    apply_policies,
    attach_policies,
    delete_policies,
    managed_policies,
    resolve_targets,
)
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.render import render_policies
from orgbackup.policies.targets import detach_dropped_targets, target_list
from orgbackup.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient


def deploy_policies(
    org: "Organizations | OrganizationsClient",
    settings: Settings,
    params: PolicyParameters,
    accounts: Sequence[str] = (),
) -> ApplyReport:
    """Render, upsert and attach every policy; delete the managed policies the templates no longer produce."""
    rendered = render_policies(settings, params)
    report = apply_policies(org, rendered, settings.policy_target_ids, accounts)
    wanted = {policy.name for policy in rendered}
    stale = {name: pid for name, pid in managed_policies(org, params.policy_name_prefix).items() if name not in wanted}
    if stale:
        removed = delete_policies(org, stale)
        report.detached.extend(removed.detached)
        report.deleted.extend(removed.deleted)
    return report


def reattach_policies(
    org: "Organizations | OrganizationsClient",
    settings: Settings,
    params: PolicyParameters,
    accounts: Sequence[str] = (),
    *,
    list_attached: bool = True,
) -> ApplyReport:
    """Attach the product's existing backup policies to every target (onboarding step 5). Creating, updating and
    deleting them is the deploy-time custom resource's job: this step runs with a role that may only attach the
    policies tagged as this product's (security review, issue 10, finding 6). A policy the deployment should have
    created but that is missing is a ConfigurationError naming it."""
    wanted = [policy.name for policy in render_policies(settings, params)]
    existing = managed_policies(org, params.policy_name_prefix)
    missing = [name for name in wanted if name not in existing]
    if missing:
        raise ConfigurationError(
            f"backup policies {', '.join(missing)} do not exist (or are not tagged as orgbackup's): the stack's "
            "BackupPolicies custom resource creates them on deploy; redeploy the stack, then re-run onboarding"
        )
    report = ApplyReport(policy_ids={name: existing[name] for name in wanted}, unchanged=list(wanted))
    targets = resolve_targets(org, settings.policy_target_ids, accounts)
    return attach_policies(org, report.policy_ids, targets, report, list_attached=list_attached)


def remove_policies(org: "Organizations | OrganizationsClient", prefix: str) -> ApplyReport:
    return delete_policies(org, managed_policies(org, prefix))


PHYSICAL_ID_MARKER = "orgbackup-backup-policies"


def physical_id(prefix: str) -> str:
    return f"{PHYSICAL_ID_MARKER}/{prefix}"


CHECK_RESOURCE_TYPE = "Custom::BackupPolicyCheck"
CHECK_PHYSICAL_ID = "orgbackup-backup-policy-check"


# What the policy resources render with, read by the handler only when a request needs it: a Delete must succeed
# even with settings a failed Create rejected, or the stack could not roll back.
ReadConfiguration = Callable[[], tuple[Settings, PolicyParameters]]


def check_policy_resource(request: CustomResourceRequest, read_configuration: ReadConfiguration) -> Outcome:
    """The Custom::BackupPolicyCheck resource: renders the policies with every offline check (parameters, Regions,
    schedules, the central Vault Lock's range, sizes and counts) and changes nothing. The StackSets depend on it,
    so a deployment that could not apply its policies fails before any baseline or Vault Lock is deployed.
    CloudFormation's own Rules cannot do this: rule functions compare strings, not numbers
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-rules.html)."""
    if request.request_type == "Delete":
        return Outcome(request.physical_resource_id or CHECK_PHYSICAL_ID, {})
    rendered = render_policies(*read_configuration())
    return Outcome(CHECK_PHYSICAL_ID, {"Policies": ", ".join(f"{p.name} ({p.size:,} characters)" for p in rendered)})


def handle_policy_resource(
    request: CustomResourceRequest, org: "Organizations | OrganizationsClient", read_configuration: ReadConfiguration
) -> Outcome:
    """The Custom::BackupPolicies resource (and Custom::BackupPolicyCheck, see ``check_policy_resource``). Its
    properties only mirror the parameters so that CloudFormation sends an Update when one changes; the values
    themselves come from the function's environment, through ``read_configuration``."""
    if request.resource_type == CHECK_RESOURCE_TYPE:
        return check_policy_resource(request, read_configuration)
    if request.request_type == "Delete":
        # The physical ID names the prefix the policies were created under, even after the prefix changed.
        marker, _, prefix = (request.physical_resource_id or "").partition("/")
        # A Create that failed before any policy existed has a fallback ID: nothing to remove then.
        report = remove_policies(org, prefix) if marker == PHYSICAL_ID_MARKER and prefix else ApplyReport()
        return Outcome(request.physical_resource_id or "", {"Deleted": ",".join(report.deleted)})
    settings, params = read_configuration()
    report = deploy_policies(org, settings, params)
    if request.request_type == "Update":
        # PolicyTargetIds changed: the targets no longer named lose the policies (issue 12).
        report.detached.extend(
            detach_dropped_targets(
                org, report.policy_ids, target_list(request.old_properties), settings.policy_target_ids
            )
        )
    data = {name: report.policy_ids[name] for name in sorted(report.policy_ids)}
    # A new prefix is a new physical ID: CloudFormation then deletes the old one, removing the old policies.
    return Outcome(physical_id(params.policy_name_prefix), {"PolicyIds": ",".join(data.values()), **data})
