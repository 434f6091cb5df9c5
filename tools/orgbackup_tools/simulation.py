"""The whole product on one machine: an emulated organization (moto plus ``orgbackup_tools.emulation``) deployed from
the real `template.yaml`, StackSet templates, state machine definition and Lambda handlers.

What is real here: the templates (StackSets deploy `stacksets/*.yaml` through moto's CloudFormation into each
member account and Region), the ASL (executed by moto's Step Functions interpreter with the template's
DefinitionSubstitutions applied), the handlers (run in process with the environment `template.yaml` gives them),
the EventBridge rule pattern (matched by moto's EventBridge, delivered to an SQS queue as the rule's target), and
the Pipes batch (SQS records shaped as Pipes delivers them). What is modelled: time (waits are instant) and the
Pipe itself (this module reads the queue and starts the execution with the batch, as the Pipe would).

Development-only: imports moto. Used by `orgbackup simulate`, `orgbackup bench` and tests/workflow.
"""

import contextlib
import datetime
import hashlib
import importlib.util
import io
import json
import os
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from orgbackup import aws, fields, settings_loader
from orgbackup.accounts import reason_of
from orgbackup.exceptions import ConfigurationError, InvalidInputError
from orgbackup.fields import got
from orgbackup.settings import Settings
from orgbackup_tools import call_log, deployment, emulation
from orgbackup_tools.intrinsics import Intrinsics, pseudo_parameters, substitute

ROOT = deployment.PROJECT_ROOT
HOME_REGION = "us-east-1"
LAMBDA_SERVICE = "lambda.amazonaws.com"
MANAGEMENT_ACCOUNT = "111111111111"
CENTRAL_ACCOUNT = "222222222222"
STACK_NAME = "orgbackup"
# The template's rules that feed the onboarding queue besides the lifecycle rule (issue 12).
CHANGE_RULES = ("OrganizationChangesRule", "ControlTowerOuLifecycleRule")


@dataclass(frozen=True)
class OrgUnit:
    ou_id: str
    name: str
    parent_id: str


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    parent_id: str
    state: str = "ACTIVE"


@dataclass(frozen=True)
class Prerequisites:
    """What an administrator sets up before the first deploy (README "Prerequisites"); each can be left out, to see
    what `orgbackup doctor` says about an organization without it. The defaults: everything in place. A deploy into
    an organization without one (``World.emulate(deploy=True)``) fails where AWS would, or not at all where moto does
    not enforce the prerequisite (the doctor's tests build the organization only)."""

    backup_trusted_access: bool = True  # organizations enable-aws-service-access backup.amazonaws.com
    backup_policy_type: bool = True  # BACKUP_POLICY enabled on the root
    scp_policy_type: bool = True  # SERVICE_CONTROL_POLICY enabled on the root (Control Tower enables it)
    cross_account_backup: bool = True  # AWS Backup global setting isCrossAccountBackupEnabled
    stackset_administration_role: bool = True  # Control Tower's service-role/AWSControlTowerStackSetRole
    central_account_enrolled: bool = True  # the central backup account's OU registered with Control Tower
    opt_in_regions_enabled: bool = True  # every opt-in backup Region enabled in every account
    account_management_trusted_access: bool = True  # lets the management account read member accounts' Regions


@dataclass
class OrgSpec:
    """The emulated organization; the default matches the IDs used throughout events/ (events/README.md)."""

    organization_id: str = "o-ab12cd34ef"
    root_id: str = "r-ab12"
    ous: list[OrgUnit] = field(
        default_factory=lambda: [
            OrgUnit("ou-ab12-11111111", "Workloads", "r-ab12"),
            OrgUnit("ou-ab12-22222222", "Sandbox", "r-ab12"),
            OrgUnit("ou-ab12-33333333", "Prod", "ou-ab12-11111111"),
            OrgUnit("ou-ab12-44444444", "Security", "r-ab12"),
        ]
    )
    accounts: list[Account] = field(
        default_factory=lambda: [
            Account(CENTRAL_ACCOUNT, "central-backup", "ou-ab12-44444444"),
            Account("333333333333", "workload-a", "ou-ab12-11111111"),
            Account("444444444444", "workload-b-prod", "ou-ab12-33333333"),
            Account("555555555555", "workload-c", "ou-ab12-11111111"),
            Account("666666666666", "sandbox-a", "ou-ab12-22222222"),
        ]
    )
    in_scope_ou_ids: tuple[str, ...] = ("ou-ab12-11111111",)
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1")
    prerequisites: Prerequisites = field(default_factory=Prerequisites)


# ---------------------------------------------------------------------------------------------------------------
# Template values: the deployment parameters (the intrinsic functions: orgbackup_tools.intrinsics)


def simulation_parameters(spec: OrgSpec, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """What `sam deploy` would pass (template defaults, samconfig.toml), with the emulated organization's IDs."""
    values = deployment.deployment_parameters()
    values.update(
        {
            "OrganizationId": spec.organization_id,
            "CentralBackupAccountId": CENTRAL_ACCOUNT,
            "BackupRegions": ",".join(spec.regions),
            "InScopeOuIds": ",".join(spec.in_scope_ou_ids),
            "ExcludedAccountIds": "",
            "NotificationEmail": "",
        }
    )
    values.update(overrides or {})
    return values


# ---------------------------------------------------------------------------------------------------------------
# The emulated world


def _load_handler(code_uri: str, handler: str) -> Callable[[Any, Any], Any]:
    module_name, function_name = handler.rsplit(".", 1)
    path = ROOT / code_uri / f"{module_name}.py"
    unique = "orgbackup_fn_" + hashlib.sha1(str(path).encode()).hexdigest()[:10]  # noqa: S324 - a module name
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load handler {handler} from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function_name)  # type: ignore[no-any-return]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


class _HandlerEnvironment:
    """The functions' environment variables in this one process, for handlers that run at the same time (executions
    started together run on their own threads). Each variable is set while any handler that has it runs and put
    back when the last one ends: a handler ending never takes the environment away from one still running. The
    template gives every function that reads a variable the same value (one anchor per settings class); a variable
    two functions set to different values at the same moment would be a conflict, refused here rather than silently
    mixed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[str, int] = {}
        self._saved: dict[str, str | None] = {}

    @contextlib.contextmanager
    def applied(self, values: Mapping[str, str]) -> Iterator[None]:
        with self._lock:
            for key, value in values.items():
                if self._holders.get(key, 0) == 0:
                    self._saved[key] = os.environ.get(key)
                elif os.environ.get(key) != value:
                    raise ConfigurationError(f"simulation: two functions running at once set {key} differently")
            for key, value in values.items():
                self._holders[key] = self._holders.get(key, 0) + 1
                os.environ[key] = value
        try:
            yield
        finally:
            with self._lock:
                for key in values:
                    self._holders[key] -= 1
                    if self._holders[key] == 0:
                        saved = self._saved.pop(key)
                        if saved is None:
                            os.environ.pop(key, None)
                        else:
                            os.environ[key] = saved


_HANDLER_ENVIRONMENT = _HandlerEnvironment()


def _with_environment(
    handler: Callable[[Any, Any], Any], environment: Mapping[str, str], role_arn: str = ""
) -> Callable[[Any, Any], Any]:
    """Run the handler with the environment its function has in the template, as Lambda would, and as its
    execution role (for the call log)."""

    def run(event: Any, context: Any) -> Any:
        with _HANDLER_ENVIRONMENT.applied(environment), call_log.acting_as(role_arn, LAMBDA_SERVICE):
            return handler(event, context)

    return run


class World:
    """A running emulation. Use ``with World.emulate(...) as world:``; everything lives until the block ends."""

    def __init__(self, spec: OrgSpec, parameters: dict[str, str]) -> None:
        self.spec = spec
        self.parameters = parameters
        self.template = deployment.load_template()
        self.resources: dict[str, dict[str, str]] = {}
        self.handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self.invocations: list[str] = []
        self.waits: list[int] = []
        self.faults = emulation.STACKSET_FAULTS
        self.notifications: list[dict[str, str]] = []
        self.executions: list[dict[str, str]] = []
        self.sent_events = 0
        self.session: Any = None
        # Every AWS call of the run with the principal that made it (the least-privilege contract reads it).
        self.calls = call_log.CallLog()
        # The process environment the emulation runs with (credentials of the management account included), for
        # callers that reset the environment between steps (pytest's per-test fixtures do).
        self.environment: dict[str, str] = {}

    # -- construction ---------------------------------------------------------------------------------------
    @classmethod
    @contextlib.contextmanager
    def emulate(
        cls, spec: OrgSpec | None = None, overrides: Mapping[str, str] | None = None, *, deploy: bool = True
    ) -> Iterator["World"]:
        """``deploy=False``: the organization only (with its prerequisites), as before the first `sam deploy`."""
        import boto3  # noqa: PLC0415
        from moto import mock_aws  # noqa: PLC0415

        spec = spec or OrgSpec()
        world = cls(spec, simulation_parameters(spec, overrides))
        moto_config: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        environment = {
            "AWS_DEFAULT_REGION": HOME_REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_METRICS_NAMESPACE": "OrgBackup",
            # The functions' logs and metrics go to stdout in Lambda; here they would drown the run's own output.
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        with contextlib.ExitStack() as stack:
            stack.enter_context(_patched_environ(environment))
            stack.enter_context(_quiet_moto())
            stack.enter_context(mock_aws(config=moto_config))
            stack.enter_context(emulation.aws_extensions())
            world.waits = stack.enter_context(emulation.instant_waits())
            world.invocations = stack.enter_context(emulation.in_process_lambdas(world.handlers))
            world.environment = {**environment, **stack.enter_context(_signed_in_as(MANAGEMENT_ACCOUNT))}
            world.calls = stack.enter_context(call_log.recording())
            # Every emulated Lambda starts cold: no boto3 session cached from an earlier run's credentials.
            aws.session.cache_clear()
            stack.callback(aws.session.cache_clear)
            world.session = boto3.session.Session(region_name=HOME_REGION)
            stack.enter_context(_log_level(environment["POWERTOOLS_LOG_LEVEL"]))
            world.build(deploy=deploy)
            yield world

    def client(self, service: str, region: str = HOME_REGION) -> Any:
        client = self.session.client(service, region_name=region)
        setattr(client, call_log.HARNESS_CLIENT, True)  # the harness's own calls (see call_log)
        return client

    def build(self, deploy: bool = True) -> None:
        self.build_organization()
        self.intrinsics = self.make_intrinsics()
        self.register_roles()
        # The deployment's Settings, as the onboarding functions read them (their Environment, template.yaml).
        self.settings = settings_loader.load(
            Settings, self.function_environment("ResolveAccountsFunction"), naming="env"
        )
        if not deploy:
            return
        self.deploy_topic()
        self.deploy_alerts_bus()
        self.deploy_report_bucket()
        self.deploy_functions()
        # CloudFormation's order: the StackSets depend on the policy check, the policies on the StackSets.
        self.check_backup_policies()
        self.deploy_stacksets()
        self.deploy_backup_policies()
        self.deploy_state_machine()
        self.deploy_lifecycle_rule()
        self.deploy_change_rules()
        self.deploy_event_rules()
        self.record_stack()
        self.apply_role_policies()
        self.apply_resource_policies()

    def apply_role_policies(self) -> None:
        """Each template role's trust policy, inline policies and the template's managed policies it attaches, as
        CloudFormation would put them (the emulation decides EventBridge deliveries with them). A policy naming a
        resource the simulation does not create is left out; the least-privilege contract checks every policy in
        full."""
        iam = self.client("iam")
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            properties = resource["Properties"]
            trust = self.intrinsics.resolve(properties["AssumeRolePolicyDocument"])
            iam.update_assume_role_policy(RoleName=logical_id, PolicyDocument=json.dumps(trust))
            for policy in properties.get("Policies", []):
                try:
                    document = self.intrinsics.resolve(policy["PolicyDocument"])
                except ConfigurationError:
                    continue
                iam.put_role_policy(
                    RoleName=logical_id, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document)
                )
            for name, managed in deployment.managed_policy_documents(self.template, logical_id).items():
                try:
                    document = self.intrinsics.resolve(managed)
                except ConfigurationError:
                    continue
                iam.attach_role_policy(RoleName=logical_id, PolicyArn=self._managed_policy(name, document))

    def _managed_policy(self, logical_id: str, document: Any) -> str:
        """The ARN of the template's managed policy ``logical_id``, created on first use (CloudFormation creates
        it once, however many roles name it)."""
        if logical_id not in self.resources:
            created = self.client("iam").create_policy(PolicyName=logical_id, PolicyDocument=json.dumps(document))
            arn = created["Policy"]["Arn"]
            self.resources[logical_id] = {"Ref": arn, "Arn": arn}
        return str(self.resources[logical_id]["Ref"])

    def apply_resource_policies(self) -> None:
        """The alerts bus policy and the topic policy of the template on the emulated bus and topic."""
        for resource in self.template["Resources"].values():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::Events::EventBusPolicy":
                statement = {"Sid": properties["StatementId"], **self.intrinsics.resolve(properties["Statement"])}
                self.client("events").put_permission(
                    EventBusName=str(self.intrinsics.resolve(properties["EventBusName"])),
                    Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
                )
            elif resource["Type"] == "AWS::SNS::TopicPolicy":
                document = json.dumps(self.intrinsics.resolve(properties["PolicyDocument"]))
                for topic in self.intrinsics.resolve(properties["Topics"]):
                    self.client("sns").set_topic_attributes(
                        TopicArn=topic, AttributeName="Policy", AttributeValue=document
                    )

    def register_roles(self) -> None:
        """The template's IAM roles, named by logical ID (moto does not enforce their policies; the least-privilege
        contract, tests/workflow/test_least_privilege.py, evaluates them against the calls each makes)."""
        iam = self.client("iam")
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Role":
                arn = iam.create_role(RoleName=logical_id, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
                self.resources[logical_id] = {"Ref": logical_id, "Arn": arn}

    def make_intrinsics(self) -> Intrinsics:
        lists = frozenset(
            name for name, spec in self.template["Parameters"].items() if spec.get("Type") == "CommaDelimitedList"
        )
        return Intrinsics(
            self.parameters,
            self.resources,
            self.template.get("Conditions"),
            lists,
            pseudo=pseudo_parameters(MANAGEMENT_ACCOUNT, HOME_REGION, STACK_NAME),
        )

    def build_organization(self) -> None:
        org = self.client("organizations")
        org.create_organization(FeatureSet="ALL")
        emulation.set_organization_ids(self.spec.organization_id, self.spec.root_id)
        for ou in self.spec.ous:
            self.add_ou(ou)
        for account in self.spec.accounts:
            self.add_account(account)
        self.set_up_prerequisites()

    def add_ou(self, ou: OrgUnit) -> None:
        created = self.client("organizations").create_organizational_unit(ParentId=ou.parent_id, Name=ou.name)
        emulation.rename_ou(created["OrganizationalUnit"]["Id"], ou.ou_id)

    def add_account(self, account: Account) -> None:
        org = self.client("organizations")
        status = org.create_account(AccountName=account.name, Email=f"{account.name}@example.com")
        emulation.rename_account(status["CreateAccountStatus"]["AccountId"], account.account_id, account.state)
        org.move_account(
            AccountId=account.account_id, SourceParentId=self.spec.root_id, DestinationParentId=account.parent_id
        )

    def set_up_prerequisites(self) -> None:
        """The landing zone and the README's one-time steps, less what ``spec.prerequisites`` leaves out."""
        needs = self.spec.prerequisites
        org = self.client("organizations")
        if needs.backup_policy_type:
            org.enable_policy_type(RootId=self.spec.root_id, PolicyType="BACKUP_POLICY")
        if needs.scp_policy_type:
            org.enable_policy_type(RootId=self.spec.root_id, PolicyType="SERVICE_CONTROL_POLICY")
        if needs.backup_trusted_access:
            org.enable_aws_service_access(ServicePrincipal="backup.amazonaws.com")
        if needs.account_management_trusted_access:
            org.enable_aws_service_access(ServicePrincipal="account.amazonaws.com")
        if needs.cross_account_backup:
            self.client("backup").update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "true"})
        if needs.stackset_administration_role:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudformation.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            self.client("iam").create_role(
                Path="/service-role/",
                RoleName="AWSControlTowerStackSetRole",
                AssumeRolePolicyDocument=json.dumps(trust),
            )
        self.register_ous_with_control_tower(enrol_central=needs.central_account_enrolled)
        if needs.opt_in_regions_enabled:
            for region in self.spec.regions:
                if region in emulation.OPT_IN_REGIONS:
                    for account_id in [MANAGEMENT_ACCOUNT, *(account.account_id for account in self.spec.accounts)]:
                        emulation.set_region_opt_status(account_id, region, "ENABLED")

    def register_ous_with_control_tower(self, *, enrol_central: bool) -> None:
        """Every OU registered (AWSControlTowerBaseline) and its accounts enrolled; without ``enrol_central``, the
        central backup account's OU is not registered, so that account is not enrolled."""
        org = self.client("organizations")
        central_parent = next((a.parent_id for a in self.spec.accounts if a.account_id == CENTRAL_ACCOUNT), None)
        for ou in self.spec.ous:
            if ou.ou_id == central_parent and not enrol_central:
                continue
            ou_arn = org.describe_organizational_unit(OrganizationalUnitId=ou.ou_id)["OrganizationalUnit"]["Arn"]
            parent = emulation.enable_baseline(ou_arn)
            for account in self.spec.accounts:
                if account.parent_id == ou.ou_id:
                    account_arn = org.describe_account(AccountId=account.account_id)["Account"]["Arn"]
                    emulation.enable_baseline(account_arn, parent_arn=parent)

    def function_environment(self, logical_id: str | None = None) -> dict[str, str]:
        intrinsics = getattr(self, "intrinsics", None) or self.make_intrinsics()
        variables = dict(self.template["Globals"]["Function"]["Environment"]["Variables"])
        if logical_id:
            own = self.template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
            variables.update(own)
        return {key: str(intrinsics.resolve(value)) for key, value in variables.items()}

    def deploy_topic(self) -> None:
        sns, sqs = self.client("sns"), self.client("sqs")
        topic_arn = sns.create_topic(Name="orgbackup-notifications")["TopicArn"]
        self.resources["NotificationTopic"] = {"Ref": topic_arn, "TopicArn": topic_arn}
        # A person's inbox, emulated: an SQS subscription the report reads back.
        queue_url = sqs.create_queue(QueueName="notification-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"}
        )
        self.inbox_url = queue_url
        # Where the alerts' undeliverable events and the formatter's failed invocations go (AlertsDeadLetterQueue).
        dlq_url = sqs.create_queue(QueueName="orgbackup-alerts-dead-letters")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.resources["AlertsDeadLetterQueue"] = {
            "Ref": dlq_url,
            "Arn": dlq_arn,
            "QueueName": "orgbackup-alerts-dead-letters",
        }
        self.alerts_dead_letter_url = dlq_url

    def deploy_report_bucket(self) -> None:
        """The coverage report bucket (its encryption, TLS-only policy and lifecycle are checked statically)."""
        if "CoverageReportBucket" not in self.template["Resources"]:
            return
        name = f"orgbackup-reports-{MANAGEMENT_ACCOUNT}"
        self.client("s3").create_bucket(Bucket=name)
        self.resources["CoverageReportBucket"] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}

    def stackset_parameters(self, logical_id: str) -> list[dict[str, str]]:
        properties = self.template["Resources"][logical_id]["Properties"]
        return [
            {
                "ParameterKey": item["ParameterKey"],
                "ParameterValue": str(self.intrinsics.resolve(item["ParameterValue"])),
            }
            for item in properties.get("Parameters", [])
        ]

    def deploy_stacksets(self) -> None:
        cfn = self.client("cloudformation")
        for logical_id in ("CentralStackSet", "MemberStackSet"):
            properties = self.template["Resources"][logical_id]["Properties"]
            name = str(self.intrinsics.resolve(properties["StackSetName"]))
            body = (ROOT / properties["TemplateURL"]).read_text(encoding="utf-8")
            cfn.create_stack_set(
                StackSetName=name,
                TemplateBody=body,
                Parameters=self.stackset_parameters(logical_id),
                PermissionModel="SELF_MANAGED",
                ExecutionRoleName=str(self.intrinsics.resolve(properties["ExecutionRoleName"])),
                Capabilities=["CAPABILITY_NAMED_IAM"],
                ManagedExecution=properties.get("ManagedExecution", {"Active": False}),
            )
            self.resources[logical_id] = {"Ref": name}
            for group in properties.get("StackInstancesGroup", []):
                accounts = self.intrinsics.resolve(group["DeploymentTargets"]["Accounts"])
                regions = self.intrinsics.resolve(group["Regions"])
                regions = settings_loader.split_list(regions) if isinstance(regions, str) else regions
                operation = cfn.create_stack_instances(StackSetName=name, Accounts=accounts, Regions=regions)
                results = cfn.list_stack_set_operation_results(StackSetName=name, OperationId=operation["OperationId"])
                failed = [r for r in results["Summaries"] if r["Status"] != "SUCCEEDED"]
                if failed:
                    raise ConfigurationError(f"{logical_id}: stack instances failed to deploy: {failed}")

    def deploy_functions(self) -> None:
        lam, iam = self.client("lambda"), self.client("iam")
        role = iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = _zip()
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            properties = resource["Properties"]
            created = lam.create_function(
                FunctionName=logical_id,
                Runtime="python3.13",
                Role=self.role_of(logical_id) or role,
                Handler=str(deployment.function_setting(self.template, properties, "Handler")),
                Code={"ZipFile": code},
            )
            self.resources[logical_id] = {"Ref": logical_id, "Arn": created["FunctionArn"]}
            invoke_config = properties.get("EventInvokeConfig")
            if invoke_config:
                destinations = self.intrinsics.resolve(invoke_config.get("DestinationConfig", {}))
                lam.put_function_event_invoke_config(
                    FunctionName=logical_id,
                    MaximumRetryAttempts=int(invoke_config.get("MaximumRetryAttempts", 2)),
                    DestinationConfig={
                        kind: {"Destination": target["Destination"]} for kind, target in destinations.items()
                    },
                )
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::Serverless::Function":
                properties = resource["Properties"]
                handler = _load_handler(
                    properties["CodeUri"], str(deployment.function_setting(self.template, properties, "Handler"))
                )
                self.handlers[logical_id] = _with_environment(
                    handler, self.function_environment(logical_id), self.role_of(logical_id)
                )

    def role_of(self, logical_id: str) -> str:
        """The ARN of a resource's execution role (``Role`` or ``RoleArn`` in the template), "" if none."""
        properties = self.template["Resources"][logical_id]["Properties"]
        role = properties.get("Role", properties.get("RoleArn", properties.get("Target", {}).get("RoleArn")))
        return str(self.intrinsics.resolve(role)) if role else ""

    def deploy_alerts_bus(self) -> None:
        properties = self.template["Resources"]["AlertsEventBus"]["Properties"]
        name = str(self.intrinsics.resolve(properties["Name"]))
        arn = self.client("events").create_event_bus(Name=name)["EventBusArn"]
        self.resources["AlertsEventBus"] = {"Ref": name, "Arn": arn, "Name": name}

    def deploy_event_rules(self) -> None:
        """Every EventBridge rule of the template (its Condition evaluated) but the lifecycle rule, whose target is
        the onboarding queue (``deploy_lifecycle_rule``): the alert rules and the forwarding of this account's
        backup events. Retry and dead-letter settings are AWS's delivery concerns, not modelled here."""
        events = self.client("events")
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::Events::Rule" or logical_id in ("ControlTowerLifecycleRule", *CHANGE_RULES):
                continue
            if "Condition" in resource and not self.intrinsics.condition(resource["Condition"]):
                continue
            raw = resource["Properties"]
            bus = str(self.intrinsics.resolve(raw.get("EventBusName", "default")))
            events.put_rule(
                Name=logical_id, EventBusName=bus, EventPattern=json.dumps(raw["EventPattern"]), State="ENABLED"
            )
            targets = [
                self.intrinsics.resolve(
                    {key: value for key, value in target.items() if key in ("Id", "Arn", "RoleArn", "InputTransformer")}
                )
                for target in raw["Targets"]
            ]
            events.put_targets(Rule=logical_id, EventBusName=bus, Targets=targets)
            self.resources[logical_id] = {
                "Ref": logical_id,
                "Arn": f"arn:aws:events:{HOME_REGION}:{MANAGEMENT_ACCOUNT}:rule/{bus + '/' if bus != 'default' else ''}"
                f"{logical_id}",
            }

    def emit_backup_event(self, account_id: str, region: str, event: Mapping[str, Any]) -> None:
        """AWS Backup in ``account_id`` and ``region`` emits ``event`` on that account's default bus. The event is
        re-targeted whole: every string naming its own account or Region (ARNs, the status message) names the
        emitting ones, so the alert tells one story; its time is kept."""
        import boto3  # noqa: PLC0415

        event = retarget(event, account_id, region)
        credentials = _assume_role(self.client("sts"), account_id, "AWSServiceRoleForBackup", "aws-backup")
        session = boto3.session.Session(**_session_arguments(credentials), region_name=region)
        entry: dict[str, Any] = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event.get("resources", []),
        }
        if isinstance(event.get("time"), str):
            entry["Time"] = datetime.datetime.fromisoformat(event["time"])
        events: Any = session.client("events")
        events.put_events(Entries=[entry])

    def check_backup_policies(self) -> None:
        """What the Custom::BackupPolicyCheck resource does on stack creation (before the StackSets)."""
        self.policy_check = self._policy_resource("BackupPolicyCheck", "Custom::BackupPolicyCheck")

    def deploy_backup_policies(self) -> None:
        """What the Custom::BackupPolicies resource does on stack creation, through the real handler."""
        self.policy_resource = self._policy_resource("BackupPolicies", "Custom::BackupPolicies")

    def _policy_resource(self, logical_id: str, resource_type: str) -> dict[str, Any]:
        answers: list[dict[str, Any]] = []
        event = {
            "RequestType": "Create",
            "ResponseURL": "https://cloudformation-custom-resource-response.example/response",
            "StackId": "arn:aws:cloudformation:us-east-1:111111111111:stack/orgbackup/1",
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceProperties": {},
        }
        from orgbackup import custom_resource  # noqa: PLC0415

        handler = self.handlers["ApplyBackupPoliciesFunction"]
        with _patched(custom_resource, "_put", lambda url, body: answers.append(json.loads(body))):
            handler(event, emulation.FakeLambdaContext("ApplyBackupPoliciesFunction", MANAGEMENT_ACCOUNT, HOME_REGION))
        if not answers or answers[0]["Status"] != "SUCCESS":
            raise ConfigurationError(f"the {resource_type} custom resource failed: {answers}")
        return answers[0]

    def deploy_state_machine(self) -> None:
        resource = self.template["Resources"]["OnboardingStateMachine"]["Properties"]
        definition = (ROOT / resource["DefinitionUri"]).read_text(encoding="utf-8")
        substitutions = {
            key: str(self.intrinsics.resolve(value)) for key, value in resource["DefinitionSubstitutions"].items()
        }
        definition = substitute(definition, lambda name: substitutions[name])
        role = self.client("iam").create_role(RoleName="states-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.state_machine_arn = self.client("stepfunctions").create_state_machine(
            name="orgbackup-onboarding", definition=definition, roleArn=role, type="STANDARD"
        )["stateMachineArn"]
        self.resources["OnboardingStateMachine"] = {"Ref": self.state_machine_arn, "Name": "orgbackup-onboarding"}
        self.calls.state_machine = call_log.Principal(self.role_of("OnboardingStateMachine"), "states.amazonaws.com")

    def deploy_lifecycle_rule(self) -> None:
        """The real rule pattern and input transformer, with the onboarding queue as its target."""
        rule = self.template["Resources"]["ControlTowerLifecycleRule"]["Properties"]
        sqs, events = self.client("sqs"), self.client("events")
        self.queue_url = sqs.create_queue(QueueName="onboarding")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="controltower-lifecycle", EventPattern=json.dumps(rule["EventPattern"]), State="ENABLED")
        target: dict[str, Any] = {"Id": "queue", "Arn": queue_arn}
        template_target = rule["Targets"][0]
        if "InputTransformer" in template_target:
            target["InputTransformer"] = template_target["InputTransformer"]
        events.put_targets(Rule="controltower-lifecycle", Targets=[target])
        self.resources["OnboardingQueue"] = {"Ref": self.queue_url, "Arn": queue_arn, "QueueName": "onboarding"}
        self.resources["ControlTowerLifecycleRule"] = {
            "Ref": "controltower-lifecycle",
            "Arn": f"arn:aws:events:{HOME_REGION}:{MANAGEMENT_ACCOUNT}:rule/controltower-lifecycle",
        }
        pipe = self.template["Resources"]["OnboardingPipe"]["Properties"]
        self.batch_size = int(pipe["SourceParameters"]["SqsQueueParameters"]["BatchSize"])
        self.pipe_input_template: str | None = pipe.get("TargetParameters", {}).get("InputTemplate")

    def record_stack(self) -> None:
        """The stack `sam deploy` leaves behind, as `orgbackup doctor` reads it: named as AWS::StackName, with the
        template's Outputs. moto has no SAM transform (the resources above stand in for the stack's), so the recorded
        stack holds one placeholder resource; an output the simulation cannot compute says so in its value."""
        cfn = self.client("cloudformation")
        for logical_id in ("MemberStackSet", "CentralStackSet"):
            name = self.resources[logical_id]["Ref"]
            self.resources[logical_id]["StackSetId"] = cfn.describe_stack_set(StackSetName=name)["StackSet"][
                "StackSetId"
            ]
        self.resources.setdefault(
            "SharedLayer", {"Ref": f"arn:aws:lambda:{HOME_REGION}:{MANAGEMENT_ACCOUNT}:layer:SharedLayer:1"}
        )
        self.resources["OnboardingStateMachine"] = {"Ref": self.state_machine_arn}
        outputs: dict[str, Any] = {}
        for name, output in self.template.get("Outputs", {}).items():
            try:
                value = str(self.intrinsics.resolve(output["Value"]))
            except ConfigurationError:
                value = f"(not modelled by the simulation: {name})"
            outputs[name] = {"Value": value, "Description": output.get("Description", "")}
        body = {"Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}, "Outputs": outputs}
        cfn.create_stack(StackName=self.intrinsics.pseudo["AWS::StackName"], TemplateBody=json.dumps(body))

    def deploy_change_rules(self) -> None:
        """The organization-change rules (issue 12): their real patterns and input transformers, delivering to the
        onboarding queue like the lifecycle rule. Organizations' events reach us-east-1, the emulation's home Region,
        so no forwarding is needed here (README "When the organization changes")."""
        events = self.client("events")
        queue_arn = self.client("sqs").get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for logical_id in CHANGE_RULES:
            rule = self.template["Resources"][logical_id]["Properties"]
            events.put_rule(Name=logical_id, EventPattern=json.dumps(rule["EventPattern"]), State="ENABLED")
            target = {"Id": "queue", "Arn": queue_arn, "InputTransformer": rule["Targets"][0]["InputTransformer"]}
            events.put_targets(Rule=logical_id, Targets=[target])

    def apply_organization_change(self, event: Mapping[str, Any]) -> str | None:
        """What the API call behind an Organizations event did, done in the emulated organization first (AWS emits
        the event after the change). Returns what was done, or None when the event changes nothing here: another
        event, a refused call (it carries an ``errorCode``), or an account the organization does not have (the
        workflow must handle that event as it comes). An event whose call AWS would have refused in this
        organization is InvalidInputError naming the field, and changes nothing."""
        detail = event.get("detail") if isinstance(event, Mapping) else None
        if event.get("source") != "aws.organizations" or not isinstance(detail, Mapping) or "errorCode" in detail:
            return None
        name = detail.get("eventName")
        if name not in ("MoveAccount", "CloseAccount", "RemoveAccountFromOrganization"):
            return None
        params = detail.get("requestParameters")
        if not isinstance(params, Mapping):
            raise InvalidInputError(f"detail.requestParameters: must be an object for {name}, got {got(params)}")
        account_id = params.get("accountId")
        if not isinstance(account_id, str) or not _exists(self, account_id):
            return None
        if name != "MoveAccount" and account_id == MANAGEMENT_ACCOUNT:
            # "You can't close the management account with this API"; nor remove it (the organization's own):
            # https://docs.aws.amazon.com/organizations/latest/APIReference/API_CloseAccount.html
            # https://docs.aws.amazon.com/organizations/latest/APIReference/API_RemoveAccountFromOrganization.html
            raise InvalidInputError(
                f"detail.requestParameters.accountId: {account_id!r} is the management account; AWS refuses "
                f"{name} for it, so no such event is emitted without an errorCode"
            )
        org = self.client("organizations")
        if name == "MoveAccount":
            destination = params.get("destinationParentId")
            if not isinstance(destination, str) or not _parent_exists(self, destination):
                raise InvalidInputError(
                    "detail.requestParameters.destinationParentId: must name a root or OU of the emulated "
                    f"organization (AWS would have refused the move), got {got(destination)}"
                )
            source = org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
            org.move_account(AccountId=account_id, SourceParentId=source, DestinationParentId=destination)
            return f"moved {account_id} from {source} to {destination}"
        if name == "CloseAccount":
            # CloseAccount is asynchronous: "While the close account request is in progress, Account status will
            # indicate PENDING_CLOSURE. When the close account request completes, the status will change to
            # SUSPENDED." The CloudTrail event records the request, so the workflow first sees PENDING_CLOSURE.
            # https://docs.aws.amazon.com/organizations/latest/APIReference/API_CloseAccount.html
            emulation.rename_account(account_id, account_id, "PENDING_CLOSURE")
            return f"closing {account_id} (state PENDING_CLOSURE)"
        org.remove_account_from_organization(AccountId=account_id)
        return f"removed {account_id} from the organization"

    # -- running --------------------------------------------------------------------------------------------
    def put_lifecycle_events(self, events_to_send: list[dict[str, Any]]) -> int:
        """Put events on the default bus as Control Tower (or AWS Organizations, through CloudTrail) would; returns
        how many the rules delivered."""
        client = self.client("events")
        for start in range(0, len(events_to_send), 10):
            entries = [
                {
                    "Source": event.get("source", ""),
                    "DetailType": event.get("detail-type", ""),
                    "Detail": json.dumps(event.get("detail", {})),
                    "Time": event.get("time"),
                    "Resources": event.get("resources", []),
                }
                for event in events_to_send[start : start + 10]
            ]
            client.put_events(Entries=[{k: v for k, v in entry.items() if v is not None} for entry in entries])
        self.sent_events += len(events_to_send)
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def pipe_batches(self, batch_size: int | None = None) -> list[list[dict[str, Any]]]:
        """Drain the queue into batches of SQS records, shaped as EventBridge Pipes hands them to its target (through
        the Pipe's InputTemplate when it has one)."""
        sqs = self.client("sqs")
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        records: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                records.append(
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "attributes": message.get("Attributes", {}),
                        "messageAttributes": message.get("MessageAttributes", {}),
                        "md5OfBody": message["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": queue_arn,
                        "awsRegion": HOME_REGION,
                    }
                )
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if self.pipe_input_template:
            # The Pipe's target InputTemplate, applied to each record (emulation.render_pipe_input_template).
            records = [emulation.render_pipe_input_template(self.pipe_input_template, record) for record in records]
        size = batch_size or self.batch_size
        return [records[i : i + size] for i in range(0, len(records), size)]

    def start_execution(self, workflow_input: Any, name: str | None = None) -> str:
        sfn = self.client("stepfunctions")
        name = name or f"run-{len(self.executions) + 1}-{uuid.uuid4().hex[:8]}"
        arn: str = sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(workflow_input)
        )["executionArn"]
        self.executions.append({"name": name, "arn": arn, "status": "RUNNING"})
        return arn

    def wait(
        self, arn: str, on_event: Callable[[dict[str, Any]], None] | None = None, timeout: float = 300
    ) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=arn)
            # The history only when someone watches it: reading (and serializing) the whole history every 20 ms
            # competes with the interpreter's thread for the GIL and made each execution about a quarter slower.
            if on_event:
                history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                for event in history[seen:]:
                    on_event(event)
                seen = len(history)
            if described["status"] != "RUNNING":
                for execution in self.executions:
                    if execution["arn"] == arn:
                        execution["status"] = described["status"]
                return dict(described)
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {arn} still running after {timeout} s")
            time.sleep(0.02)

    def history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.client("stepfunctions").get_execution_history(
            executionArn=arn, maxResults=1000
        )["events"]
        return events

    def execute(
        self, workflow_input: Any, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> list[dict[str, Any]]:
        """Start an execution with ``workflow_input``, wait for it to end, return its history."""
        arn = self.start_execution(workflow_input)
        self.wait(arn, on_event)
        return self.history(arn)

    def process_events(
        self,
        events_to_send: list[dict[str, Any]],
        on_event: Callable[[dict[str, Any]], None] | None = None,
        batch_size: int | None = None,
    ) -> list[list[dict[str, Any]]]:
        """Control Tower emits the events; the rule, queue and Pipe carry them; one execution per batch, in turn.
        Returns each execution's history."""
        self.put_lifecycle_events(events_to_send)
        return self.run_batches(on_event=on_event, batch_size=batch_size)

    def run_batches(
        self,
        on_batch: Callable[[int, int], None] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        batch_size: int | None = None,
    ) -> list[list[dict[str, Any]]]:
        """What the Pipe does with the queue: one execution per batch (here in turn). Returns the histories."""
        histories = []
        pipe = self.role_of("OnboardingPipe"), "pipes.amazonaws.com"
        with call_log.playing(*pipe):
            batches = self.pipe_batches(batch_size)
        for index, batch in enumerate(batches, start=1):
            if on_batch:
                on_batch(index, len(batch))
            with call_log.playing(*pipe):
                arn = self.start_execution(batch)
            self.wait(arn, on_event)
            histories.append(self.history(arn))
        return histories

    def read_alerts_dead_letters(self) -> list[dict[str, Any]]:
        """Drain the alerts dead-letter queue: the records (JSON) of alerts that could not be delivered or
        formatted."""
        sqs = self.client("sqs")
        records: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.alerts_dead_letter_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return records
            for message in messages:
                records.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.alerts_dead_letter_url, ReceiptHandle=message["ReceiptHandle"])

    def read_notifications(self) -> list[dict[str, str]]:
        sqs = self.client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return self.notifications
            for message in messages:
                envelope = json.loads(message["Body"])
                self.notifications.append({"subject": envelope.get("Subject", ""), "message": envelope["Message"]})
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])


def retarget(event: Mapping[str, Any], account_id: str, region: str) -> dict[str, Any]:
    """``event`` with its own account (``account``) and Region (``region``) replaced by these in every string."""
    text = json.dumps(event)
    for old, new in ((event.get("account"), account_id), (event.get("region"), region)):
        if isinstance(old, str) and old:
            text = text.replace(old, new)
    moved: dict[str, Any] = json.loads(text)
    return moved


@contextlib.contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables and put back exactly what was there, key by key: the emulated Step Functions runs handlers
    on its own thread while this one polls, so the environment must never be empty, even for an instant."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _assume_role(sts: Any, account_id: str, role_name: str, session_name: str) -> dict[str, Any]:
    """Credentials of a role in ``account_id``: moto maps them to that account (see ``_signed_in_as``)."""
    credentials: dict[str, Any] = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName=session_name
    )["Credentials"]
    return credentials


def _session_arguments(credentials: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


@contextlib.contextmanager
def _signed_in_as(account_id: str) -> Iterator[dict[str, str]]:
    """Credentials of a role in ``account_id`` for everything that follows, as a deployment has them.

    moto picks the account of a request from its access key, unless MOTO_ACCOUNT_ID is set, which pins every
    request to one account: then a role assumed into the central account would still act in the management account.
    """
    import boto3  # noqa: PLC0415

    credentials = _assume_role(
        boto3.client("sts", region_name=HOME_REGION), account_id, "OrgBackupDeployer", "orgbackup-simulation"
    )
    variables = {key.upper(): value for key, value in _session_arguments(credentials).items()}
    with _patched_environ(variables):
        yield variables


@contextlib.contextmanager
def _log_level(level: str) -> Iterator[None]:
    """The functions' shared logger was created at import; give it the level the emulated Lambda has."""
    from orgbackup.observability import logger  # noqa: PLC0415

    previous = logger.log_level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def _quiet_moto() -> Iterator[None]:
    """moto logs each failed state at ERROR; the run reports failures itself."""
    import logging  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    moto_logger = logging.getLogger("moto")
    level = moto_logger.level
    moto_logger.setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            moto_logger.setLevel(level)


@contextlib.contextmanager
def _patched(target: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


# ---------------------------------------------------------------------------------------------------------------
# What happened, read back from the emulated accounts (not from what the workflow says it did)


def final_state(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The last workflow state a Task produced (the Report step's output, when the run got that far)."""
    states = _task_states(history)
    return states[-1] if states else {}


def _task_states(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every workflow state a Task produced, in order."""
    states: list[dict[str, Any]] = []
    for event in history:
        for details in event.values():
            if not isinstance(details, dict) or "output" not in details:
                continue
            try:
                output = json.loads(details["output"])
            except (TypeError, json.JSONDecodeError):
                continue
            payload = output.get("Payload", output) if isinstance(output, dict) else None
            if (
                isinstance(payload, dict)
                and "execution" in payload
                and ("resolution" in payload or "failure" in payload)
            ):
                states.append(payload)
    return states


def chunk_states(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last workflow state of each reconcile chunk of the execution (one for any other run), in order: a
    reconcile onboards one chunk of accounts per round of the state machine (accounts.RECONCILE_CHUNK_ACCOUNTS)."""
    last: dict[int, dict[str, Any]] = {}
    for state in _task_states(history):
        last[int(state.get("chunk") or 1)] = state
    return [last[chunk] for chunk in sorted(last)] or [{}]


def _outcomes(state: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    outcomes: dict[str, dict[str, str]] = {}
    resolution = state.get("resolution", {})
    for item in resolution.get("invalid", []):
        key = item.get("account_id") or f"record:{','.join(item.get('sources', [])) or '?'}"
        outcomes[key] = {"outcome": "invalid", "reason": reason_of(item)}
    for item in resolution.get("skipped", []):
        outcomes[item["account_id"]] = {"outcome": "skipped", "reason": reason_of(item)}
    failure = state.get("failure")
    for item in resolution.get("to_onboard", []):
        why = f"run failed at {failure.get('step')}" if failure else "not reached"
        outcomes[item["account_id"]] = {"outcome": "failed", "reason": why}
    results = state.get("baseline", {})
    for account in results.get("onboarded", []):
        reached_end = "report" in state and not failure
        outcomes[account] = (
            {"outcome": "onboarded", "reason": "baseline current in every backup Region"}
            if reached_end
            else {
                "outcome": "failed",
                "reason": f"baseline in place, but the run failed at {failure.get('step') if failure else '?'}",
            }
        )
    for account, problems in results.get("failed", {}).items():
        outcomes[account] = {"outcome": "failed", "reason": "; ".join(problems)}
    _change_outcomes(state, outcomes)
    return outcomes


def _change_outcomes(state: Mapping[str, Any], outcomes: dict[str, dict[str, str]]) -> None:
    """Issue 12: ``offboarded`` (what was removed, what was kept), offboardings that ``failed``, and ``unchanged``
    for an account an organization change named that needed nothing (protected and still in scope, or out of
    scope and holding nothing of the product)."""
    offboarding = state.get("offboarding", {})
    for account in state.get("plan", {}).get("reevaluated", []):
        current = outcomes.get(account, {})
        if current.get("outcome") == "skipped" or (not current and not state.get("failure")):
            outcomes[account] = {"outcome": "unchanged", "reason": current.get("reason") or "nothing to change"}
    for account, item in offboarding.get("offboarded", {}).items():
        reason = f"{item.get('why', '')}; removed: {'; '.join(item.get('removed', []))}; kept: {item.get('kept')}"
        outcomes[account] = {"outcome": "offboarded", "reason": reason.lstrip("; ")}
    for account, problems in offboarding.get("failed", {}).items():
        outcomes[account] = {"outcome": "failed", "reason": "offboarding: " + "; ".join(problems)}


class Observer:
    """Reads the emulated accounts to say what each account really has."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.settings = world.settings
        self.org = world.client("organizations")

    def stack_instances(self) -> dict[str, dict[str, str]]:
        cfn = self.world.client("cloudformation")
        out: dict[str, dict[str, str]] = {}
        for summary in cfn.list_stack_instances(StackSetName=self.settings.member_stackset_name)["Summaries"]:
            out.setdefault(summary["Account"], {})[summary["Region"]] = summary["Status"]
        return out

    def stackset_operations(self) -> int:
        cfn = self.world.client("cloudformation")
        return len(cfn.list_stack_set_operations(StackSetName=self.settings.member_stackset_name)["Summaries"])

    def vaults(self, account_id: str) -> dict[str, str]:
        from moto.backup.models import backup_backends  # noqa: PLC0415

        return {
            region: self.settings.member_vault_name
            for region in self.settings.baseline_regions
            if self.settings.member_vault_name in backup_backends[account_id][region].vaults
        }

    def central_policy(self) -> dict[str, Any] | None:
        text = emulation.vault_access_policy(
            CENTRAL_ACCOUNT, self.settings.primary_region, self.settings.central_vault_name
        )
        return json.loads(text) if text else None

    def path(self, account_id: str) -> list[str]:
        chain: list[str] = []
        child = account_id
        while True:
            parents = self.org.list_parents(ChildId=child)["Parents"]
            if not parents:
                return chain
            chain.append(parents[0]["Id"])
            if parents[0]["Type"] == "ROOT":
                return chain
            child = parents[0]["Id"]

    def in_central_policy(self, account_id: str, policy: Mapping[str, Any] | None) -> bool:
        """Whether the account's backup role may copy into the central vault under ``policy``, decided as the
        emulated AWS Backup decides a copy job (``protection.access``: an explicit Deny, such as the organization
        form's Deny of the excluded accounts, wins over the Allow)."""
        from orgbackup.protection.access import Principal, policy_allows  # noqa: PLC0415

        if not policy:
            return False
        org_id: str | None = None
        org_paths: tuple[str, ...] = ()
        if "aws:PrincipalOrg" in json.dumps(policy):  # the organization forms: the account's place decides
            org_id = self.world.spec.organization_id
            org_paths = ("/".join([org_id, *reversed(self.path(account_id))]) + "/",)
        role = f"arn:{self.settings.partition}:iam::{account_id}:role/{self.settings.backup_role_name}"
        caller = Principal(account_id, role, self.settings.primary_region, org_id, org_paths)
        return policy_allows(dict(policy), emulation.COPY_INTO, caller)[0]

    def backup_policies(self, account_id: str) -> list[str]:
        """Backup policies in force for the account: attached to it, to an OU above it, or to the root."""
        names: list[str] = []
        for target in [account_id, *self.path(account_id)]:
            for policy in self.org.list_policies_for_target(TargetId=target, Filter="BACKUP_POLICY")["Policies"]:
                names.append(policy["Name"])
        return sorted(set(names))


def build_report(world: World, histories: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """The run's report in the `orgbackup simulate --json` contract."""
    outcomes: dict[str, dict[str, str]] = {}
    counted_current = False
    for history in histories:
        for state in chunk_states(history):
            outcomes.update(_outcomes(state))
            counted_current |= bool(state.get("resolution", {}).get("baseline_current"))
    observer = Observer(world)
    instances = observer.stack_instances()
    if counted_current:
        # A reconcile counts the accounts whose baseline was already current, without naming them: they are the
        # accounts with a current instance everywhere that the run did nothing else with.
        for account_id, statuses in sorted(instances.items()):
            if account_id not in outcomes and statuses and set(statuses.values()) == {"CURRENT"}:
                outcomes[account_id] = {"outcome": "skipped", "reason": "baseline already current"}
    policy = observer.central_policy()
    accounts: dict[str, Any] = {}
    for account_id, outcome in outcomes.items():
        real = len(account_id) == 12 and account_id.isdigit() and _exists(world, account_id)
        accounts[account_id] = {
            **outcome,
            "stack_instances": instances.get(account_id, {}),
            "vaults": observer.vaults(account_id) if real else {},
            "in_central_vault_policy": observer.in_central_policy(account_id, policy) if real else False,
            "backup_policies": observer.backup_policies(account_id) if real else [],
        }
    return {
        "executions": [{"name": e["name"], "status": e["status"]} for e in world.executions],
        "accounts": accounts,
        "stackset_operations": observer.stackset_operations(),
        "notifications": list(world.read_notifications()),
    }


def _parent_exists(world: World, parent_id: str) -> bool:
    """A root or OU of the emulated organization."""
    org = world.client("organizations")
    if re.fullmatch(fields.ROOT_ID, parent_id):
        return parent_id in {root["Id"] for root in org.list_roots()["Roots"]}
    if not re.fullmatch(fields.OU_ID, parent_id):
        return False
    try:
        org.describe_organizational_unit(OrganizationalUnitId=parent_id)
    except Exception:  # OrganizationalUnitNotFoundException
        return False
    return True


def _exists(world: World, account_id: str) -> bool:
    try:
        world.client("organizations").describe_account(AccountId=account_id)
    except Exception:  # AccountNotFoundException: nothing to read back
        return False
    return True


def session_in(world: World, account_id: str, region: str) -> Any:
    """A boto3 session of a person in ``account_id`` (an operator running a command there), in ``region``."""
    import boto3  # noqa: PLC0415

    credentials = _assume_role(world.client("sts"), account_id, "OrgBackupOperator", "orgbackup-operator")
    return boto3.session.Session(**_session_arguments(credentials), region_name=region)
