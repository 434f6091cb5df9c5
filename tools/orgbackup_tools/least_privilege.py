"""The least-privilege contract: every AWS call an emulated run records (``orgbackup_tools.call_log``) must be
allowed by the policies the templates give the principal that made it, and every grant must be used by some call
or carry a written reason.

Policies come from the three templates, resolved with the run's own values (``orgbackup_tools.intrinsics``); the
member and central StackSet templates are resolved per account with the parameters their StackSet passes. Requests
are decided by ``orgbackup_tools.iam_eval`` (AWS's documented evaluation logic). What a call needs:
- its IAM action and resource ARN(s), from ``RESOURCES`` below (the Service Authorization Reference's resource
  types; an operation missing there fails the contract with its name, so a new call gets a row);
- what AWS does on the caller's behalf: publishing to a topic or sending to a queue encrypted with a customer
  managed key needs ``kms:GenerateDataKey`` and ``kms:Decrypt`` on that key, receiving needs ``kms:Decrypt`` (SNS
  developer guide, "Data encryption" / "Key management",
  https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html; SQS developer guide, "Key management",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html); a service
  acting as a role first assumes it (the role's trust policy, with ``aws:SourceAccount``).

Not modelled (and why): AWS managed policies (``ManagedPolicyArns``; their text is AWS's, not the templates');
the StackSet administration and execution roles (Control Tower's); stack-instance target and type resources of
CloudFormation actions (the StackSet resource is checked); calls AWS Backup itself makes (no backup jobs run in the
emulation): the grants for them carry reasons instead.
"""

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from orgbackup.exceptions import ConfigurationError
from orgbackup_tools import call_log, deployment, emulation, iam_eval, simulation
from orgbackup_tools.iam_eval import Request
from orgbackup_tools.intrinsics import Intrinsics

MAIN = "template.yaml"
MEMBER = "stacksets/member-account.yaml"
CENTRAL = "stacksets/central-backup-account.yaml"
STACKSET_OF = {MEMBER: "MemberStackSet", CENTRAL: "CentralStackSet"}
OUTSIDER = "arn:aws:iam::999999999999:role/Outsider"
OUTSIDE_ORGANIZATION = "o-outsider999"
NO_VALUE = object()

# botocore service name -> IAM service prefix, where they differ
IAM_PREFIX = {"stepfunctions": "states"}
# API operation -> IAM action, where they differ
# API operations whose IAM action has another name (Service Authorization Reference).
IAM_ACTION = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
}


class _Intrinsics(Intrinsics):
    """The simulation's intrinsics plus what the StackSet templates use: Fn::Split and AWS::NoValue."""

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(element) for element in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" and arg == "AWS::NoValue":
                return NO_VALUE
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Ref" or key.startswith("Fn::"):
                return super().resolve(value)
        return {key: item for key, item in ((k, self.resolve(v)) for k, v in value.items()) if item is not NO_VALUE}


# ---------------------------------------------------------------------------------------------------------------
# Policies from the templates


@dataclass(frozen=True)
class PolicyHolder:
    """A role (identity policies and trust policy) or a resource with a resource policy, in one account."""

    template: str
    logical_id: str
    account: str
    arn: str
    documents: Mapping[str, Mapping[str, Any]]  # policy name -> document (a resource has one)

    @property
    def key(self) -> str:
        return f"{self.template}:{self.logical_id}"


@dataclass
class Templates:
    """The resolved policies of the three templates for one emulated world."""

    world: simulation.World
    roles: dict[str, PolicyHolder] = field(default_factory=dict)  # role ARN -> identity policies
    trusts: dict[str, PolicyHolder] = field(default_factory=dict)  # role ARN -> trust policy
    resource_policies: dict[str, PolicyHolder] = field(default_factory=dict)  # resource ARN -> its policy
    encryption: dict[str, str] = field(default_factory=dict)  # topic/queue ARN -> KMS key ARN

    @classmethod
    def load(cls, world: simulation.World, member_accounts: Iterable[str]) -> "Templates":
        found = cls(world)
        found._main()
        for account in member_accounts:
            found._stackset(MEMBER, account)
        found._stackset(CENTRAL, simulation.CENTRAL_ACCOUNT)
        found._central_vault_policy()
        return found

    def _main(self) -> None:
        world = self.world
        resources = dict(world.resources)
        for logical_id, resource in world.template["Resources"].items():
            resources.setdefault(logical_id, _placeholder(logical_id, resource["Type"], simulation.MANAGEMENT_ACCOUNT))
            for attribute, value in _placeholder(logical_id, resource["Type"], simulation.MANAGEMENT_ACCOUNT).items():
                resources[logical_id].setdefault(attribute, value)
        intrinsics = _Intrinsics(
            world.parameters,
            resources,
            world.template.get("Conditions"),
            world.intrinsics.list_parameters,
            pseudo=world.intrinsics.pseudo,
        )
        self._read(MAIN, world.template, intrinsics, simulation.MANAGEMENT_ACCOUNT, resources)

    def _stackset(self, template_path: str, account: str) -> None:
        template = _stackset_template(template_path)
        passed = {
            item["ParameterKey"]: item["ParameterValue"]
            for item in self.world.stackset_parameters(STACKSET_OF[template_path])
        }
        parameters = {
            name: str(spec["Default"]) for name, spec in template["Parameters"].items() if "Default" in spec
        } | passed
        region = passed["PrimaryRegion"]
        resources = {
            logical_id: _placeholder(logical_id, resource["Type"], account, region)
            for logical_id, resource in template["Resources"].items()
        }
        intrinsics = _Intrinsics(
            parameters,
            resources,
            template.get("Conditions"),
            pseudo={**self.world.intrinsics.pseudo, "AWS::AccountId": account, "AWS::Region": region},
        )
        # Named resources are known by their names.
        for logical_id, resource in template["Resources"].items():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::Role" and "RoleName" in properties:
                name = intrinsics.resolve(properties["RoleName"])
                resources[logical_id]["Arn"] = f"arn:aws:iam::{account}:role/{name}"
            if resource["Type"] == "AWS::Backup::BackupVault":
                name = intrinsics.resolve(properties["BackupVaultName"])
                resources[logical_id]["Arn"] = f"arn:aws:backup:{region}:{account}:backup-vault:{name}"
        self._read(template_path, template, intrinsics, account, resources)

    def _read(
        self,
        template_path: str,
        template: Mapping[str, Any],
        intrinsics: _Intrinsics,
        account: str,
        resources: Mapping[str, Mapping[str, Any]],
    ) -> None:
        def holder(logical_id: str, arn: str, documents: Mapping[str, Any]) -> PolicyHolder:
            return PolicyHolder(template_path, logical_id, account, arn, documents)

        for logical_id, resource in template["Resources"].items():
            kind, properties = resource["Type"], resource.get("Properties", {})
            if "Condition" in resource and not intrinsics.condition(resource["Condition"]):
                continue
            arn = str(resources[logical_id].get("Arn", ""))
            if kind == "AWS::IAM::Role":
                policies = {
                    item["PolicyName"]: intrinsics.resolve(item["PolicyDocument"])
                    for item in properties.get("Policies", [])
                }
                # The template's managed policies attached to the role grant as its inline policies do.
                for name, document in deployment.managed_policy_documents(dict(template), logical_id).items():
                    policies[name] = intrinsics.resolve(document)
                self.roles[arn] = holder(logical_id, arn, policies)
                self.trusts[arn] = holder(
                    logical_id, arn, {"trust": intrinsics.resolve(properties["AssumeRolePolicyDocument"])}
                )
            elif kind == "AWS::KMS::Key":
                self.resource_policies[arn] = holder(
                    logical_id, arn, {"key policy": intrinsics.resolve(properties["KeyPolicy"])}
                )
            elif kind == "AWS::Backup::BackupVault" and "AccessPolicy" in properties:
                policy = intrinsics.resolve(properties["AccessPolicy"])
                self.resource_policies[arn] = holder(logical_id, arn, {"vault access policy": policy})
            elif kind in ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"):
                targets = properties["Topics"] if kind == "AWS::SNS::TopicPolicy" else properties["Queues"]
                document = intrinsics.resolve(properties["PolicyDocument"])
                for target in targets:
                    owner = _owner(target)
                    target_arn = str(resources[owner]["Ref" if kind == "AWS::SNS::TopicPolicy" else "Arn"])
                    self.resource_policies[target_arn] = holder(logical_id, target_arn, {logical_id: document})
            elif kind == "AWS::Events::EventBusPolicy":
                bus = str(resources[_owner(properties["EventBusName"])]["Arn"])
                statement = {"Sid": properties["StatementId"], **intrinsics.resolve(properties["Statement"])}
                self.resource_policies[bus] = holder(logical_id, bus, {logical_id: {"Statement": [statement]}})
            elif kind == "AWS::Lambda::Permission":
                function = str(resources[_owner(properties["FunctionName"])]["Arn"])
                statement = {
                    "Sid": logical_id,
                    "Effect": "Allow",
                    "Principal": {"Service": intrinsics.resolve(properties["Principal"])},
                    "Action": properties["Action"],
                    "Resource": function,
                    # Lambda matches SourceArn with ArnLike (Lambda developer guide, "Resource-based policies").
                    "Condition": {"ArnLike": {"aws:SourceArn": intrinsics.resolve(properties["SourceArn"])}},
                }
                existing = self.resource_policies.get(function)
                statements = [*existing.documents["permissions"]["Statement"]] if existing else []
                self.resource_policies[function] = holder(
                    f"LambdaPermissions({_owner(properties['FunctionName'])})",
                    function,
                    {"permissions": {"Statement": [*statements, statement]}},
                )
            if kind == "AWS::SNS::Topic":
                arn = str(resources[logical_id]["Ref"])  # a topic's Ref is its ARN
            if kind in ("AWS::SNS::Topic", "AWS::SQS::Queue") and "KmsMasterKeyId" in properties:
                key = str(intrinsics.resolve(properties["KmsMasterKeyId"]))
                key_owner = next((lid for lid, res in resources.items() if key in res.values()), None)
                self.encryption[arn] = str(resources[key_owner]["Arn"]) if key_owner else key

    def _central_vault_policy(self) -> None:
        """The central vault's access policy is the workflow's output, read back from the emulated vault."""
        settings = self.world.settings
        try:
            text = emulation.vault_access_policy(
                simulation.CENTRAL_ACCOUNT, settings.primary_region, settings.central_vault_name
            )
        except Exception:  # no vault or no policy yet: nothing to check
            return
        if text:
            region, vault = settings.primary_region, settings.central_vault_name
            arn = f"arn:aws:backup:{region}:{simulation.CENTRAL_ACCOUNT}:backup-vault:{vault}"
            self.resource_policies[arn] = PolicyHolder(
                "RefreshVaultPolicy (generated)",
                "CentralVault",
                simulation.CENTRAL_ACCOUNT,
                arn,
                {"central vault policy": json.loads(text)},
            )


@functools.cache
def _stackset_template(template_path: str) -> dict[str, Any]:
    """Parsed once per process (a run resolves it for every member account); never modified."""
    return deployment.load_template(deployment.PROJECT_ROOT / template_path)


def check_world(world: simulation.World) -> list[str]:
    """The calls of ``world`` so far that its templates' policies do not allow (used by the tests' guard)."""
    members = [
        account.account_id
        for account in world.spec.accounts
        if account.account_id not in (simulation.CENTRAL_ACCOUNT, simulation.MANAGEMENT_ACCOUNT)
    ]
    return refused(Contract(world, Templates.load(world, members)), world.calls.calls)


def _owner(reference: Any) -> str:
    if isinstance(reference, dict) and "Ref" in reference:
        return str(reference["Ref"])
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        target = reference["Fn::GetAtt"]
        return str(target.split(".")[0] if isinstance(target, str) else target[0])
    raise ConfigurationError(f"least privilege: cannot tell which resource {reference!r} names")


def _placeholder(logical_id: str, kind: str, account: str, region: str = simulation.HOME_REGION) -> dict[str, Any]:
    """Values for resources the emulation does not create, unique per logical ID (contract-only)."""
    service = kind.split("::")[1].lower()
    arns = {
        "kms": f"arn:aws:kms:{region}:{account}:key/{logical_id}",
        "sqs": f"arn:aws:sqs:{region}:{account}:{logical_id}",
        "logs": f"arn:aws:logs:{region}:{account}:log-group:{logical_id}",
        "events": f"arn:aws:events:{region}:{account}:rule/{logical_id}",
    }
    arn = arns.get(service, f"arn:aws:{service}:{region}:{account}:{logical_id}")
    return {"Ref": logical_id, "Arn": arn, "QueueName": logical_id, "Name": logical_id, "StackSetId": logical_id}


# ---------------------------------------------------------------------------------------------------------------
# Calls as requests


def _org_arn(organization: str, management: str, identifier: str) -> str:
    if identifier.startswith("ou-"):
        kind = "ou"
    elif identifier.startswith("r-"):
        kind = "root"
    elif identifier.startswith("p-"):
        kind = "policy"
        return f"arn:aws:organizations::{management}:policy/{organization}/backup_policy/{identifier}"
    else:
        kind = "account"
    return f"arn:aws:organizations::{management}:{kind}/{organization}/{identifier}"


def _queue_arn(url: str, region: str) -> str:
    _, account, name = urlparse(url).path.split("/")
    return f"arn:aws:sqs:{region}:{account}:{name}"


Resolver = Callable[[call_log.Call, str, "Org"], list[str]]


@dataclass(frozen=True)
class Org:
    organization_id: str
    management: str
    accounts: frozenset[str]


def _org(*names: str) -> Resolver:
    return lambda call, account, org: [_org_arn(org.organization_id, org.management, call.params[n]) for n in names]


def _everything(call: call_log.Call, account: str, org: Org) -> list[str]:
    return ["*"]


def _stackset(call: call_log.Call, account: str, org: Org) -> list[str]:
    return [f"arn:aws:cloudformation:{call.region}:{account}:stackset/{call.params['StackSetName']}:stackset-id"]


def _vault(call: call_log.Call, account: str, org: Org) -> list[str]:
    return [f"arn:aws:backup:{call.region}:{account}:backup-vault:{call.params['BackupVaultName']}"]


def _function(call: call_log.Call, account: str, org: Org) -> list[str]:
    name = str(call.params["FunctionName"])
    return [name if name.startswith("arn:") else f"arn:aws:lambda:{call.region}:{account}:function:{name}"]


def _param(name: str) -> Resolver:
    return lambda call, account, org: [str(call.params[name])]


def _bucket(call: call_log.Call, account: str, org: Org) -> list[str]:
    return [f"arn:aws:s3:::{call.params['Bucket']}"]


def _object(call: call_log.Call, account: str, org: Org) -> list[str]:
    return [f"arn:aws:s3:::{call.params['Bucket']}/{call.params['Key']}"]


def _queue(call: call_log.Call, account: str, org: Org) -> list[str]:
    return [_queue_arn(str(call.params["QueueUrl"]), call.region)]


# (botocore service, operation) -> the resource ARNs IAM authorizes the call against (Service Authorization
# Reference, "Actions, resources, and condition keys" for each service). Actions without a resource type take "*".
RESOURCES: dict[tuple[str, str], Resolver] = {
    **{
        ("organizations", op): _everything
        for op in ("ListAccounts", "DescribeOrganization", "ListRoots", "ListPolicies", "CreatePolicy")
    },
    ("organizations", "DescribeAccount"): _org("AccountId"),
    ("organizations", "DescribeOrganizationalUnit"): _org("OrganizationalUnitId"),
    ("organizations", "ListParents"): _org("ChildId"),
    ("organizations", "ListAccountsForParent"): _org("ParentId"),
    ("organizations", "ListOrganizationalUnitsForParent"): _org("ParentId"),
    ("organizations", "ListChildren"): _org("ParentId"),
    ("organizations", "ListPoliciesForTarget"): _org("TargetId"),
    ("organizations", "DescribeEffectivePolicy"): _org("TargetId"),
    ("organizations", "ListTagsForResource"): _org("ResourceId"),
    ("organizations", "TagResource"): _org("ResourceId"),
    ("organizations", "DescribePolicy"): _org("PolicyId"),
    ("organizations", "UpdatePolicy"): _org("PolicyId"),
    ("organizations", "DeletePolicy"): _org("PolicyId"),
    ("organizations", "ListTargetsForPolicy"): _org("PolicyId"),
    # Attach and detach authorize against the policy and the target.
    ("organizations", "AttachPolicy"): _org("PolicyId", "TargetId"),
    ("organizations", "DetachPolicy"): _org("PolicyId", "TargetId"),
    **{
        ("cloudformation", op): _stackset
        for op in (
            "CreateStackInstances",
            "UpdateStackInstances",
            "DeleteStackInstances",
            "ListStackInstances",
            "ListStackSetOperationResults",
            "DescribeStackSetOperation",
            "ListStackSetOperations",
            "DescribeStackSet",
        )
    },
    ("sts", "AssumeRole"): _param("RoleArn"),
    **{
        ("backup", op): _vault
        for op in (
            "DescribeBackupVault",
            "GetBackupVaultAccessPolicy",
            "PutBackupVaultAccessPolicy",
            "DeleteBackupVaultAccessPolicy",
        )
    },
    ("sns", "Publish"): _param("TopicArn"),
    # AWS Backup's job listings have no resource type (Service Authorization Reference, AWS Backup).
    **{("backup", op): _everything for op in ("ListBackupJobs", "ListCopyJobs", "ListRestoreJobs")},
    ("s3", "GetObject"): _object,
    ("s3", "PutObject"): _object,
    ("s3", "ListObjectsV2"): _bucket,
    ("s3", "HeadObject"): _object,
    ("lambda", "Invoke"): _function,
    ("stepfunctions", "StartExecution"): _param("stateMachineArn"),
    **{("sqs", op): _queue for op in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "SendMessage")},
}


@dataclass(frozen=True)
class Need:
    """One permission a recorded call needs: the request, and where it came from (for messages)."""

    request: Request
    why: str
    resource_account: str


class Contract:
    def __init__(self, world: simulation.World, templates: Templates) -> None:
        self.world = world
        self.templates = templates
        spec = world.spec
        self.org = Org(
            spec.organization_id,
            simulation.MANAGEMENT_ACCOUNT,
            frozenset([simulation.MANAGEMENT_ACCOUNT, *(a.account_id for a in spec.accounts)]),
        )

    def context(self, principal: str, extra: Mapping[str, str | list[str]] | None = None) -> dict[str, str | list[str]]:
        context: dict[str, str | list[str]] = {"aws:SecureTransport": "true"}
        if not principal.endswith(".amazonaws.com"):
            account = principal.split(":")[4]
            context.update({"aws:PrincipalArn": principal, "aws:PrincipalAccount": account})
            if account in self.org.accounts:
                context["aws:PrincipalOrgID"] = self.org.organization_id
        context.update(extra or {})
        return context

    def in_scope(self, principal: call_log.Principal | None) -> bool:
        """Calls of the template's own roles and of services on their behalf; not the harness's."""
        if principal is None:
            return False
        return principal.arn in self.templates.roles or (not principal.arn and bool(principal.service))

    def needs(self, calls: Iterable[call_log.Call]) -> Iterator[Need]:
        for call in calls:
            if not self.in_scope(call.principal):
                continue
            assert call.principal is not None
            who = call.principal.arn or call.principal.service
            if call.delivery:
                action, resources = f"{call.service}:{call.operation}", [str(call.params["resource"])]
            else:
                resolver = RESOURCES.get((call.service, call.operation))
                if resolver is None:
                    raise ConfigurationError(
                        f"least privilege: no resource mapping for {call.service}.{call.operation} (made by {who}): "
                        "add it to orgbackup_tools.least_privilege.RESOURCES"
                    )
                prefix = IAM_PREFIX.get(call.service, call.service)
                action = IAM_ACTION.get((call.service, call.operation), f"{prefix}:{call.operation}")
                account = who.split(":")[4] if call.principal.arn else ""
                resources = resolver(call, account, self.org)
            why = f"{call.service}.{call.operation} by {who}"
            for resource in resources:
                yield from self._with_implied(who, action, resource, call, why)
                if action == "lambda:InvokeFunction":
                    yield from self._function_role(resource, why)
            if call.principal.arn and call.principal.service:
                role_account = call.principal.arn.split(":")[4]
                yield Need(
                    Request(
                        call.principal.service,
                        "sts:AssumeRole",
                        call.principal.arn,
                        self.context(call.principal.service, {"aws:SourceAccount": role_account}),
                    ),
                    f"{call.principal.service} assumes {call.principal.arn} for {why}",
                    role_account,
                )

    def _function_role(self, function_arn: str, why: str) -> Iterator[Need]:
        """Lambda runs an invoked function as its execution role: it assumes the role (its trust policy)."""
        name = function_arn.rsplit(":function:", 1)[-1].split(":", 1)[0]
        if name not in self.world.template["Resources"]:
            return
        role = self.world.role_of(name)
        account = role.split(":")[4]
        context = self.context(simulation.LAMBDA_SERVICE, {"aws:SourceAccount": account})
        yield Need(
            Request(simulation.LAMBDA_SERVICE, "sts:AssumeRole", role, context), f"Lambda runs {name} ({why})", account
        )

    def _with_implied(self, who: str, action: str, resource: str, call: call_log.Call, why: str) -> Iterator[Need]:
        resource_account = resource.split(":")[4] if resource.count(":") >= 5 and resource.split(":")[4] else ""
        if not resource_account:
            resource_account = who.split(":")[4] if who.startswith("arn:") else self.org.management
        context = dict(call.context)
        if ":policy/" not in resource:
            # A policy's tags condition that policy only, not the target an attach or detach also names.
            context = {key: value for key, value in context.items() if not key.startswith(call_log.RESOURCE_TAG)}
        yield Need(Request(who, action, resource, self.context(who, context)), why, resource_account)
        key = self.templates.encryption.get(resource)
        if key is None:
            return
        kms_actions = {
            "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
            "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
            "sqs:ReceiveMessage": ("kms:Decrypt",),
        }.get(action, ())
        context_key = (
            "kms:EncryptionContext:aws:sns:topicArn" if ":sns:" in resource else "kms:EncryptionContext:aws:sqs:arn"
        )
        for kms_action in kms_actions:
            extra = {**call.context, context_key: resource}
            yield Need(
                Request(who, kms_action, key, self.context(who, extra)),
                f"{why} (the {resource.split(':')[2].upper()} encryption key)",
                key.split(":")[4],
            )

    def decide(self, need: Need) -> iam_eval.Decision:
        request = need.request
        identity = (
            self.templates.roles[request.principal].documents if request.principal in self.templates.roles else {}
        )
        if request.action == "sts:AssumeRole":
            holder = self.templates.trusts.get(request.resource)
        else:
            holder = self.templates.resource_policies.get(request.resource)
        policy, name = (None, "") if holder is None else (next(iter(holder.documents.values())), holder.key)
        return iam_eval.evaluate(request, identity, policy, need.resource_account, name)


def refused(contract: Contract, calls: Iterable[call_log.Call]) -> list[str]:
    """Every recorded call the templates' policies do not allow, one line each."""
    problems = []
    seen: set[tuple[str, str, str]] = set()
    for need in contract.needs(calls):
        request = need.request
        key = (request.principal, request.action, request.resource)
        if key in seen:
            continue
        seen.add(key)
        decision = contract.decide(need)
        if not decision.allowed:
            problems.append(f"{decision.result}: {request.action} on {request.resource} ({need.why})")
    return sorted(problems)


def usage(contract: Contract, calls: Iterable[call_log.Call]) -> tuple[dict[str, set[str]], set[tuple[str, int]]]:
    """Actions each role used (role key -> actions), and the resource-policy statements that allowed a call."""
    actions: dict[str, set[str]] = {}
    statements: set[tuple[str, int]] = set()
    for need in contract.needs(calls):
        holder = contract.templates.roles.get(need.request.principal)
        if holder:
            actions.setdefault(holder.key, set()).add(need.request.action)
        decision = contract.decide(need)
        statements.update(decision.allowed_by)
    return actions, statements


def grants(templates: Templates) -> Iterator[tuple[str, str]]:
    """(role key, granted action) for every action in every role's inline policies, one per role."""
    seen: set[tuple[str, str]] = set()
    for holder in templates.roles.values():
        for document in holder.documents.values():
            for statement in iam_eval.statements(document):
                if statement["Effect"] != "Allow":
                    continue
                for action in iam_eval.actions_of(statement):
                    if (holder.key, action) not in seen:
                        seen.add((holder.key, action))
                        yield holder.key, action


def resource_statements(templates: Templates) -> Iterator[tuple[PolicyHolder, int, Mapping[str, Any]]]:
    """Every Allow statement of every resource policy and trust policy (each policy once)."""
    seen: set[str] = set()
    for holder in [*templates.resource_policies.values(), *templates.trusts.values()]:
        name = holder.key
        if name in seen:
            continue
        seen.add(name)
        document = next(iter(holder.documents.values()))
        for index, statement in enumerate(iam_eval.statements(document)):
            if statement["Effect"] == "Allow":
                yield holder, index, statement


def statement_label(holder: PolicyHolder, index: int, statement: Mapping[str, Any]) -> str:
    return f"{holder.key}:{statement.get('Sid', index)}"


def outsider_allowed(templates: Templates) -> list[str]:
    """Resource-policy statements that would let a principal outside the organization in (with no other grant
    needed than its own account's), for every action they allow."""
    problems = []
    for holder in templates.resource_policies.values():
        document = next(iter(holder.documents.values()))
        for index, statement in enumerate(iam_eval.statements(document)):
            if statement["Effect"] != "Allow" or "Action" not in statement:
                continue
            for action in iam_eval.actions_of(statement):
                concrete = action.replace("*", "Any")
                for principal, context in (
                    (
                        OUTSIDER,
                        {
                            "aws:PrincipalArn": OUTSIDER,
                            "aws:PrincipalAccount": "999999999999",
                            "aws:PrincipalOrgID": OUTSIDE_ORGANIZATION,
                        },
                    ),
                    (
                        "events.amazonaws.com",
                        {
                            "aws:SourceAccount": "999999999999",
                            "aws:SourceArn": "arn:aws:events:us-east-1:999999999999:rule/outsider",
                        },
                    ),
                ):
                    request = Request(principal, concrete, holder.arn, {"aws:SecureTransport": "true", **context})
                    if iam_eval.statement_applies(statement, request, resource_policy=True):
                        problems.append(f"{statement_label(holder, index, statement)} lets {principal} {action}")
    return sorted(set(problems))


def load_reasons(path: Path) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return data
