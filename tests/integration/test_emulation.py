"""Each documented moto extension in orgbackup_tools.emulation behaves as AWS documents."""

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orgbackup_tools import emulation

POLICY = json.dumps({"plans": {"p": {"regions": {"@@assign": ["us-east-1"]}}}})


@pytest.fixture
def org() -> Iterator[object]:
    with mock_aws(), emulation.aws_extensions():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        yield client


def enable_backup_policies(client: object) -> str:
    root_id: str = client.list_roots()["Roots"][0]["Id"]  # type: ignore[attr-defined]
    client.enable_policy_type(RootId=root_id, PolicyType="BACKUP_POLICY")  # type: ignore[attr-defined]
    return root_id


def test_backup_policy_is_created_with_its_documented_arn(org) -> None:
    # When a backup policy is created
    summary = org.create_policy(Name="b", Description="d", Content=POLICY, Type="BACKUP_POLICY")["Policy"][
        "PolicySummary"
    ]
    # Then it has the backup_policy ARN form and is listed under its type only
    assert ":policy/o-" in summary["Arn"]
    assert "/backup_policy/p-" in summary["Arn"]
    assert [p["Name"] for p in org.list_policies(Filter="BACKUP_POLICY")["Policies"]] == ["b"]
    assert "b" not in [p["Name"] for p in org.list_policies(Filter="TAG_POLICY")["Policies"]]


def test_without_the_extension_moto_cannot_create_backup_policies() -> None:
    # Given plain moto (the gap this extension closes)
    with mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        # Then creating a backup policy is not implemented
        with pytest.raises(NotImplementedError):
            client.create_policy(Name="b", Description="d", Content=POLICY, Type="BACKUP_POLICY")


def test_backup_policy_content_over_10000_characters_is_refused_on_create_and_update(org) -> None:
    big = json.dumps({"plans": {"p": {"x": "y" * 10_000}}})
    with pytest.raises(ClientError) as raised:
        org.create_policy(Name="b", Description="d", Content=big, Type="BACKUP_POLICY")
    assert raised.value.response["Error"]["Code"] == "ConstraintViolationException"
    assert "POLICY_CONTENT_LIMIT_EXCEEDED" in raised.value.response["Error"]["Message"]
    policy_id = org.create_policy(Name="b", Description="d", Content=POLICY, Type="BACKUP_POLICY")["Policy"][
        "PolicySummary"
    ]["Id"]
    with pytest.raises(ClientError) as raised:
        org.update_policy(PolicyId=policy_id, Content=big)
    assert raised.value.response["Error"]["Code"] == "ConstraintViolationException"


def test_backup_policy_content_that_is_not_json_is_malformed(org) -> None:
    with pytest.raises(ClientError) as raised:
        org.create_policy(Name="b", Description="d", Content="{not json", Type="BACKUP_POLICY")
    assert raised.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"


def test_attaching_twice_is_a_duplicate_attachment(org) -> None:
    root_id = enable_backup_policies(org)
    policy_id = org.create_policy(Name="b", Description="d", Content=POLICY, Type="BACKUP_POLICY")["Policy"][
        "PolicySummary"
    ]["Id"]
    org.attach_policy(PolicyId=policy_id, TargetId=root_id)
    with pytest.raises(ClientError) as raised:
        org.attach_policy(PolicyId=policy_id, TargetId=root_id)
    assert raised.value.response["Error"]["Code"] == "DuplicatePolicyAttachmentException"


def test_detaching_an_unattached_policy_is_refused(org) -> None:
    root_id = enable_backup_policies(org)
    policy_id = org.create_policy(Name="b", Description="d", Content=POLICY, Type="BACKUP_POLICY")["Policy"][
        "PolicySummary"
    ]["Id"]
    with pytest.raises(ClientError) as raised:
        org.detach_policy(PolicyId=policy_id, TargetId=root_id)
    assert raised.value.response["Error"]["Code"] == "PolicyNotAttachedException"


def test_attaching_a_policy_of_a_type_not_enabled_on_the_root_is_refused(org) -> None:
    root_id = org.list_roots()["Roots"][0]["Id"]
    policy_id = org.create_policy(Name="b", Description="d", Content=POLICY, Type="BACKUP_POLICY")["Policy"][
        "PolicySummary"
    ]["Id"]
    with pytest.raises(ClientError) as raised:
        org.attach_policy(PolicyId=policy_id, TargetId=root_id)
    assert raised.value.response["Error"]["Code"] == "PolicyTypeNotEnabledException"


def test_at_most_ten_backup_policies_attach_directly_to_one_target(org) -> None:
    root_id = enable_backup_policies(org)
    for index in range(emulation.DIRECT_BACKUP_POLICY_LIMIT):
        policy_id = org.create_policy(Name=f"b{index}", Description="d", Content=POLICY, Type="BACKUP_POLICY")[
            "Policy"
        ]["PolicySummary"]["Id"]
        org.attach_policy(PolicyId=policy_id, TargetId=root_id)
    eleventh = org.create_policy(Name="b10", Description="d", Content=POLICY, Type="BACKUP_POLICY")["Policy"][
        "PolicySummary"
    ]["Id"]
    with pytest.raises(ClientError) as raised:
        org.attach_policy(PolicyId=eleventh, TargetId=root_id)
    assert "POLICY_NUMBER_LIMIT_EXCEEDED" in raised.value.response["Error"]["Message"]


def test_inject_errors_fails_the_next_calls_then_lets_them_through(org) -> None:
    with emulation.inject_errors(org, "ListRoots", "ConcurrentModificationException", times=2) as raised:
        for _ in range(2):
            with pytest.raises(ClientError) as error:
                org.list_roots()
            assert error.value.response["Error"]["Code"] == "ConcurrentModificationException"
        assert org.list_roots()["Roots"]
    assert raised == ["ConcurrentModificationException"] * 2


VAULT_TEMPLATE = """
Resources:
  Vault:
    Type: AWS::Backup::BackupVault
    Properties:
      BackupVaultName: member-vault
      AccessPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: backup:DeleteRecoveryPoint
            Resource: "*"
Outputs:
  Arn:
    Value: !GetAtt Vault.BackupVaultArn
  Name:
    Value: !Ref Vault
"""


def test_vault_access_policy_round_trip_and_errors() -> None:
    with mock_aws(), emulation.aws_extensions():
        backup = boto3.client("backup", region_name="eu-west-1")
        backup.create_backup_vault(BackupVaultName="central")
        # A vault without a policy: Get is ResourceNotFound
        with pytest.raises(ClientError) as raised:
            backup.get_backup_vault_access_policy(BackupVaultName="central")
        assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
        backup.put_backup_vault_access_policy(BackupVaultName="central", Policy='{"Statement": []}')
        got = backup.get_backup_vault_access_policy(BackupVaultName="central")
        assert got["Policy"] == '{"Statement": []}'
        assert got["BackupVaultArn"].endswith(":backup-vault:central")
        with pytest.raises(ClientError) as raised:
            backup.put_backup_vault_access_policy(BackupVaultName="central", Policy="{nope")
        assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"
        with pytest.raises(ClientError) as raised:
            backup.put_backup_vault_access_policy(BackupVaultName="missing", Policy="{}")
        assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
        backup.delete_backup_vault_access_policy(BackupVaultName="central")
        with pytest.raises(ClientError):
            backup.get_backup_vault_access_policy(BackupVaultName="central")


def test_cloudformation_creates_and_deletes_backup_vaults() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = boto3.client("cloudformation", region_name="eu-west-1")
        backup = boto3.client("backup", region_name="eu-west-1")
        cfn.create_stack(StackName="s", TemplateBody=VAULT_TEMPLATE)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="s")["Stacks"][0]["Outputs"]}
        assert outputs["Name"] == "member-vault"
        assert outputs["Arn"].endswith(":backup-vault:member-vault")
        assert [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]] == ["member-vault"]
        policy = json.loads(backup.get_backup_vault_access_policy(BackupVaultName="member-vault")["Policy"])
        assert policy["Statement"][0]["Action"] == "backup:DeleteRecoveryPoint"
        cfn.delete_stack(StackName="s")
        assert backup.list_backup_vaults()["BackupVaultList"] == []


class StepFailedError(Exception):
    pass


MACHINE = {
    "StartAt": "Pause",
    "States": {
        "Pause": {"Type": "Wait", "Seconds": 3600, "Next": "Work"},
        "Work": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:worker",
            "Catch": [{"ErrorEquals": ["StepFailedError"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


def run_machine(handler) -> tuple[dict, list[int], list[str]]:
    import time

    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with (
        mock_aws(config=config),
        emulation.instant_waits() as waits,
        emulation.in_process_lambdas({"worker": handler}) as invocations,
    ):
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(name="m", definition=json.dumps(MACHINE), roleArn=role)
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"n": 1}')
        for _ in range(200):
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
        return described, waits, invocations


def test_lambda_tasks_run_in_process_and_waits_are_instant() -> None:
    described, waits, invocations = run_machine(
        lambda event, context: {"seen": event["n"], "fn": context.function_name}
    )
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"seen": 1, "fn": "worker"}
    assert waits == [3600]
    assert invocations == ["worker"]


def test_a_handler_exception_is_a_lambda_error_named_after_its_class() -> None:
    def failing(event, context):
        raise StepFailedError("account 333333333333: nope")

    described, _, _ = run_machine(failing)
    assert described["status"] == "SUCCEEDED"
    error = json.loads(described["output"])["error"]
    assert error["Error"] == "StepFailedError"
    assert "333333333333: nope" in error["Cause"]


STACKSET_TEMPLATE = """
Resources:
  Vault:
    Type: AWS::Backup::BackupVault
    Properties:
      BackupVaultName: member-vault
"""


def stackset_client():
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    cfn.create_stack_set(StackSetName="member", TemplateBody=STACKSET_TEMPLATE, PermissionModel="SELF_MANAGED")
    return cfn


def results(cfn, operation_id):
    summaries = cfn.list_stack_set_operation_results(StackSetName="member", OperationId=operation_id)["Summaries"]
    return {(s["Account"], s["Region"]): s["Status"] for s in summaries}


def test_stackset_operations_use_the_callers_id_and_report_each_pair() -> None:
    with mock_aws(), emulation.aws_extensions() as _:
        cfn = stackset_client()
        # Given one pair will fail
        emulation.STACKSET_FAULTS.fail("333333333333", "eu-west-1", "Resource handler returned message: boom")
        # When instances are created for two accounts in two Regions, tolerating one failure per Region
        cfn.create_stack_instances(
            StackSetName="member",
            Accounts=["333333333333", "444444444444"],
            Regions=["us-east-1", "eu-west-1"],
            OperationId="exec-1-create",
            OperationPreferences={"FailureToleranceCount": 1},
        )
        # Then the operation carries the caller's ID and succeeds within tolerance, one pair failed
        operation = cfn.describe_stack_set_operation(StackSetName="member", OperationId="exec-1-create")
        assert operation["StackSetOperation"]["Status"] == "SUCCEEDED"
        assert results(cfn, "exec-1-create")[("333333333333", "eu-west-1")] == "FAILED"
        assert list(results(cfn, "exec-1-create").values()).count("SUCCEEDED") == 3
        instances = {
            (i["Account"], i["Region"]): i["Status"]
            for i in cfn.list_stack_instances(StackSetName="member")["Summaries"]
        }
        assert instances[("333333333333", "eu-west-1")] == "OUTDATED"
        assert instances[("444444444444", "eu-west-1")] == "CURRENT"
        # And the stack really exists in the member account where it succeeded
        from moto.backup.models import backup_backends

        assert "member-vault" in backup_backends["444444444444"]["eu-west-1"].vaults
        assert "member-vault" not in backup_backends["333333333333"]["eu-west-1"].vaults
        # A repeated operation ID is refused
        with pytest.raises(ClientError) as raised:
            cfn.create_stack_instances(
                StackSetName="member", Accounts=["333333333333"], Regions=["us-east-1"], OperationId="exec-1-create"
            )
        assert raised.value.response["Error"]["Code"] == "OperationIdAlreadyExistsException"
        # When the fault clears and the failed pair is updated, it becomes current
        emulation.STACKSET_FAULTS.heal()
        cfn.update_stack_instances(
            StackSetName="member", Accounts=["333333333333"], Regions=["eu-west-1"], OperationId="exec-2-update"
        )
        assert results(cfn, "exec-2-update") == {("333333333333", "eu-west-1"): "SUCCEEDED"}
        assert "member-vault" in backup_backends["333333333333"]["eu-west-1"].vaults


def test_stackset_failures_beyond_tolerance_fail_the_operation_and_create_skips_existing_pairs() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = stackset_client()
        cfn.create_stack_instances(StackSetName="member", Accounts=["444444444444"], Regions=["us-east-1"])
        emulation.STACKSET_FAULTS.fail("333333333333", "us-east-1")
        operation_id = cfn.create_stack_instances(
            StackSetName="member", Accounts=["333333333333", "444444444444"], Regions=["us-east-1"]
        )["OperationId"]
        assert (
            cfn.describe_stack_set_operation(StackSetName="member", OperationId=operation_id)["StackSetOperation"][
                "Status"
            ]
            == "FAILED"
        )
        # The existing pair was skipped, not duplicated
        assert len(cfn.list_stack_instances(StackSetName="member")["Summaries"]) == 2
        with pytest.raises(ClientError) as raised:
            cfn.update_stack_instances(StackSetName="member", Accounts=["555555555555"], Regions=["us-east-1"])
        assert raised.value.response["Error"]["Code"] == "StackInstanceNotFoundException"


def test_held_stackset_operations_stay_running_until_released() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = stackset_client()
        emulation.STACKSET_FAULTS.hold()
        operation_id = cfn.create_stack_instances(
            StackSetName="member", Accounts=["333333333333"], Regions=["us-east-1"]
        )["OperationId"]
        describe = lambda: cfn.describe_stack_set_operation(StackSetName="member", OperationId=operation_id)[  # noqa: E731
            "StackSetOperation"
        ]["Status"]
        assert describe() == "RUNNING"
        assert results(cfn, operation_id) == {("333333333333", "us-east-1"): "RUNNING"}
        # While it runs, the instance it deploys is not current yet
        assert instance_states(cfn) == {("333333333333", "us-east-1"): ("OUTDATED", "RUNNING")}
        emulation.STACKSET_FAULTS.release()
        assert describe() == "SUCCEEDED"
        assert instance_states(cfn) == {("333333333333", "us-east-1"): ("CURRENT", "SUCCEEDED")}


def instance_states(cfn):
    return {
        (i["Account"], i["Region"]): (i["Status"], i["StackInstanceStatus"]["DetailedStatus"])
        for i in cfn.list_stack_instances(StackSetName="member")["Summaries"]
    }


def test_step_functions_tasks_call_with_the_process_credentials_and_reuse_their_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    with mock_aws(), emulation.stepfunctions_caller_credentials():
        # Given the interpreter's client factory, as the Lambda and aws-sdk integrations call it
        factory = importlib.import_module(emulation.STEPFUNCTIONS_CLIENT_MODULES[1]).boto_client_for
        # When a task calls under the process's credentials (moto's default account for the test keys)
        first = factory(region="us-east-1", service="sts")
        # Then it acts in that account, and the next task with the same credentials reuses the client
        assert first.get_caller_identity()["Account"] == "123456789012"
        assert factory(region="us-east-1", service="sts") is first
        # When the process signs in to another account (as the local run does)
        credentials = first.assume_role(RoleArn="arn:aws:iam::222222222222:role/deployer", RoleSessionName="s")[
            "Credentials"
        ]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
        monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
        # Then tasks act in that account, through a client of their own
        other = factory(region="us-east-1", service="sts")
        assert other is not first
        assert other.get_caller_identity()["Account"] == "222222222222"


def test_many_invocations_with_metrics_disabled_print_no_metrics(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function that adds one metric value per invocation, run as the simulation runs it (metrics disabled)
    from aws_lambda_powertools import Metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = Metrics(namespace="EmulationTest", service="worker")

    @metrics.log_metrics
    def counting(event, context):
        metrics.add_metric(name="Runs", unit="Count", value=1)
        return {}

    with mock_aws(config={"lambda": {"use_docker": False}}), emulation.in_process_lambdas({"worker": counting}):
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3.client("lambda", region_name="us-east-1")
        lam.create_function(
            FunctionName="worker", Runtime="python3.13", Role=role, Handler="app.h", Code={"ZipFile": b"x"}
        )
        capsys.readouterr()
        # When it is invoked more often than Powertools keeps values of one metric before printing them (100)
        for _ in range(101):
            lam.invoke(FunctionName="worker", Payload=b"{}")
    # Then nothing reaches stdout: each invocation ends with no metric values kept
    assert capsys.readouterr().out == ""


def test_an_async_lambda_target_that_keeps_failing_sends_its_invocation_record_to_an_sqs_destination() -> None:
    # Given a rule whose Lambda target always fails, and the function's OnFailure destination is an SQS queue
    def failing(event, context):
        raise RuntimeError("formatter bug")

    config = {"lambda": {"use_docker": False}}
    with (
        mock_aws(config=config),
        emulation.in_process_lambdas({"formatter": failing}) as invocations,
        emulation.eventbridge_targets(),
    ):
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3.client("lambda", region_name="us-east-1")
        function_arn = lam.create_function(
            FunctionName="formatter", Runtime="python3.13", Role=role, Handler="app.h", Code={"ZipFile": b"x"}
        )["FunctionArn"]
        lam.put_function_event_invoke_config(
            FunctionName="formatter",
            MaximumRetryAttempts=1,
            DestinationConfig={"OnFailure": {"Destination": queue_arn}},
        )
        events = boto3.client("events", region_name="us-east-1")
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["test.source"]}))
        events.put_targets(Rule="r", Targets=[{"Id": "f", "Arn": function_arn}])
        # When a matching event arrives
        events.put_events(Entries=[{"Source": "test.source", "DetailType": "t", "Detail": '{"n": 1}'}])
        # Then Lambda tried twice (1 + MaximumRetryAttempts) and the queue holds the invocation record with the event
        assert invocations == ["formatter", "formatter"]
        (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        record = json.loads(message["Body"])
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 2
        assert record["requestPayload"]["detail"] == {"n": 1}


def test_a_vault_is_deleted_only_when_empty_and_not_denied_by_its_access_policy() -> None:
    with mock_aws(), emulation.aws_extensions():
        backup = boto3.client("backup", region_name="us-east-1")
        backup.create_backup_vault(BackupVaultName="v")
        # A Deny of DeleteBackupVault to every principal refuses the caller
        deny = {"Effect": "Deny", "Principal": "*", "Action": ["backup:DeleteBackupVault"], "Resource": "*"}
        backup.put_backup_vault_access_policy(
            BackupVaultName="v", Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]})
        )
        with pytest.raises(ClientError) as refused:
            backup.delete_backup_vault(BackupVaultName="v")
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        # A vault that holds recovery points is refused whatever its policy
        backup.delete_backup_vault_access_policy(BackupVaultName="v")
        emulation.hold_recovery_points("123456789012", "us-east-1", "v", 2)
        with pytest.raises(ClientError) as not_empty:
            backup.delete_backup_vault(BackupVaultName="v")
        assert not_empty.value.response["Error"]["Code"] == "InvalidRequestException"
        assert "contains 2 recovery points" in not_empty.value.response["Error"]["Message"]
        # An empty vault without such a deny is deleted
        emulation.hold_recovery_points("123456789012", "us-east-1", "v", 0)
        backup.delete_backup_vault(BackupVaultName="v")
        assert backup.list_backup_vaults()["BackupVaultList"] == []


def test_the_vault_deny_check_honours_principal_exceptions_and_refuses_conditions_it_cannot_read() -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": ["backup:DeleteBackupVault"], "Resource": "*"}
    role = "arn:aws:iam::222222222222:role/AWSControlTowerExecution"
    excepted = {**deny, "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [role]}}}
    policy = json.dumps({"Statement": [excepted]})
    assert not emulation._vault_policy_denies(policy, "backup:DeleteBackupVault", role)
    assert emulation._vault_policy_denies(policy, "backup:DeleteBackupVault", "arn:aws:iam::222222222222:role/X")
    assert emulation._vault_policy_denies(policy, "backup:DeleteBackupVault", None)
    assert not emulation._vault_policy_denies(policy, "backup:DeleteRecoveryPoint", None)
    unreadable = json.dumps({"Statement": [{**deny, "Condition": {"StringEquals": {"aws:PrincipalTag/x": "y"}}}]})
    with pytest.raises(NotImplementedError):
        emulation._vault_policy_denies(unreadable, "backup:DeleteBackupVault", role)


# ------------------------------------------------------------------------------------------------------------------
# Stricter than moto (issue 9)


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        ({"Effect": "Deny", "Principal": "*", "Action": "backup:*", "Resource": "*"}, True),
        ({"Effect": "Deny", "Principal": "*", "Action": ["backup:DeleteRecoveryPoint", "*"], "Resource": "*"}, True),
        ({"Effect": "Maybe", "Principal": "*", "Action": "backup:DeleteRecoveryPoint", "Resource": "*"}, True),
        ({"Effect": "Deny", "Principal": "*", "Action": "backup:DeleteRecoveryPoint", "Resource": "*"}, False),
    ],
)
def test_a_vault_policy_with_a_wildcard_action_is_refused(statement: dict, refused: bool) -> None:
    with mock_aws(), emulation.aws_extensions():
        backup = boto3.client("backup", region_name="eu-west-1")
        backup.create_backup_vault(BackupVaultName="central")
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        if not refused:
            backup.put_backup_vault_access_policy(BackupVaultName="central", Policy=policy)
            assert backup.get_backup_vault_access_policy(BackupVaultName="central")["Policy"] == policy
            return
        with pytest.raises(ClientError) as raised:
            backup.put_backup_vault_access_policy(BackupVaultName="central", Policy=policy)
        assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"
        # And nothing was stored
        with pytest.raises(ClientError):
            backup.get_backup_vault_access_policy(BackupVaultName="central")


CAUGHT_BY_ALL = {
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:worker",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


def _run(definition: dict, handler, execution_input: str) -> tuple[dict, list[dict]]:
    import time

    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config), emulation.aws_extensions(), emulation.in_process_lambdas({"worker": handler}):
        role = boto3.client("iam", region_name="us-east-1").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=role["Role"]["Arn"])
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=execution_input)
        for _ in range(200):
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        return described, history


def test_a_task_result_over_256_kib_fails_the_execution_past_a_states_all_catch() -> None:
    # Given a task whose result is 256 KiB of text, and a Catch on States.ALL
    described, history = _run(CAUGHT_BY_ALL, lambda event, context: {"blob": "x" * 262_144}, "{}")
    # Then the execution fails with States.DataLimitExceeded, which States.ALL does not catch
    assert described["status"] == "FAILED"
    failed = [e for e in history if e["type"] == "ExecutionFailed"]
    assert failed[0]["executionFailedEventDetails"]["error"] == "States.DataLimitExceeded"


def test_a_task_result_under_the_limit_passes() -> None:
    described, _ = _run(CAUGHT_BY_ALL, lambda event, context: {"blob": "x" * 200_000}, "{}")
    assert described["status"] == "SUCCEEDED"


def test_an_execution_input_over_256_kib_is_refused_and_at_the_limit_accepted() -> None:
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config), emulation.aws_extensions():
        role = boto3.client("iam", region_name="us-east-1").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        pass_only = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
        arn = sfn.create_state_machine(name="m", definition=json.dumps(pass_only), roleArn=role["Role"]["Arn"])[
            "stateMachineArn"
        ]
        # Given inputs of exactly 262,144 UTF-8 bytes and one byte more ("é" is two bytes)
        at_limit = json.dumps({"k": "é" * ((262_144 - 10) // 2)}, ensure_ascii=False)
        at_limit += " " * (262_144 - len(at_limit.encode()))
        assert len(at_limit.encode()) == 262_144
        sfn.start_execution(stateMachineArn=arn, input=at_limit)
        with pytest.raises(ClientError) as raised:
            sfn.start_execution(stateMachineArn=arn, input=at_limit + " ")
        assert raised.value.response["Error"]["Code"] == "InvalidExecutionInput"


def _status(cfn, operation_id: str, name: str = "member") -> str:
    return cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)["StackSetOperation"]["Status"]


def test_without_managed_execution_a_second_operation_is_refused_while_one_runs() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = stackset_client()
        # Given an operation still running
        emulation.STACKSET_FAULTS.hold()
        first = cfn.create_stack_instances(StackSetName="member", Accounts=["333333333333"], Regions=["us-east-1"])
        # When another is requested on the same StackSet
        with pytest.raises(ClientError) as raised:
            cfn.create_stack_instances(StackSetName="member", Accounts=["444444444444"], Regions=["us-east-1"])
        # Then it is refused and nothing of it is deployed
        assert raised.value.response["Error"]["Code"] == "OperationInProgressException"
        emulation.STACKSET_FAULTS.release()
        assert _status(cfn, first["OperationId"]) == "SUCCEEDED"
        assert set(instance_states(cfn)) == {("333333333333", "us-east-1")}


def test_with_managed_execution_operations_queue_and_run_in_request_order() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        cfn.create_stack_set(
            StackSetName="member",
            TemplateBody=STACKSET_TEMPLATE,
            PermissionModel="SELF_MANAGED",
            ManagedExecution={"Active": True},
        )
        # Given an operation still running
        emulation.STACKSET_FAULTS.hold()
        first = cfn.create_stack_instances(StackSetName="member", Accounts=["333333333333"], Regions=["us-east-1"])
        # When two more are requested
        second = cfn.create_stack_instances(StackSetName="member", Accounts=["444444444444"], Regions=["us-east-1"])
        third = cfn.create_stack_instances(StackSetName="member", Accounts=["555555555555"], Regions=["us-east-1"])
        # Then they wait, QUEUED, with nothing deployed yet
        assert [_status(cfn, op["OperationId"]) for op in (first, second, third)] == ["RUNNING", "QUEUED", "QUEUED"]
        assert set(instance_states(cfn)) == {("333333333333", "us-east-1")}
        # And when the running one ends, the queued ones run in order and finish
        emulation.STACKSET_FAULTS.release()
        assert [_status(cfn, op["OperationId"]) for op in (first, second, third)] == ["SUCCEEDED"] * 3
        assert results(cfn, third["OperationId"]) == {("555555555555", "us-east-1"): "SUCCEEDED"}
        assert {account for account, _ in instance_states(cfn)} == {"333333333333", "444444444444", "555555555555"}


def _pairs(cfn, operation_id: str) -> dict[tuple[str, str], str]:
    return results(cfn, operation_id)


A, B, C = "333333333333", "444444444444", "555555555555"


def test_beyond_tolerance_the_rest_of_the_region_and_later_sequential_regions_are_cancelled() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = stackset_client()
        # Given the first account fails in the first Region; defaults: one account at a time, no tolerance
        emulation.STACKSET_FAULTS.fail(A, "us-east-1")
        operation = cfn.create_stack_instances(
            StackSetName="member", Accounts=[A, B], Regions=["us-east-1", "eu-west-1"]
        )["OperationId"]
        # Then the operation stops: the other account and the whole later Region are cancelled, not deployed
        assert _status(cfn, operation) == "FAILED"
        assert _pairs(cfn, operation) == {
            (A, "us-east-1"): "FAILED",
            (B, "us-east-1"): "CANCELLED",
            (A, "eu-west-1"): "CANCELLED",
            (B, "eu-west-1"): "CANCELLED",
        }
        assert set(instance_states(cfn).values()) == {("OUTDATED", "FAILED"), ("OUTDATED", "CANCELLED")}


def test_with_parallel_regions_only_the_failing_region_stops() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = stackset_client()
        emulation.STACKSET_FAULTS.fail(A, "us-east-1")
        operation = cfn.create_stack_instances(
            StackSetName="member",
            Accounts=[A, B],
            Regions=["us-east-1", "eu-west-1"],
            OperationPreferences={"RegionConcurrencyType": "PARALLEL"},
        )["OperationId"]
        assert _pairs(cfn, operation) == {
            (A, "us-east-1"): "FAILED",
            (B, "us-east-1"): "CANCELLED",
            (A, "eu-west-1"): "SUCCEEDED",
            (B, "eu-west-1"): "SUCCEEDED",
        }
        assert _status(cfn, operation) == "FAILED"


def test_a_batch_in_flight_finishes_and_the_next_batch_is_cancelled() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = stackset_client()
        # Given two accounts at a time, no tolerance, and the first account failing
        emulation.STACKSET_FAULTS.fail(A, "us-east-1")
        operation = cfn.create_stack_instances(
            StackSetName="member",
            Accounts=[A, B, C],
            Regions=["us-east-1"],
            OperationPreferences={"MaxConcurrentCount": 2, "FailureToleranceCount": 0},
        )["OperationId"]
        # Then the second account of the same batch still deploys, the third is never attempted
        assert _pairs(cfn, operation) == {
            (A, "us-east-1"): "FAILED",
            (B, "us-east-1"): "SUCCEEDED",
            (C, "us-east-1"): "CANCELLED",
        }


def test_create_skips_a_failed_pair_and_update_repairs_it() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = stackset_client()
        emulation.STACKSET_FAULTS.fail(A, "us-east-1")
        cfn.create_stack_instances(StackSetName="member", Accounts=[A], Regions=["us-east-1"])
        emulation.STACKSET_FAULTS.heal()
        # When a create names the failed pair again
        again = cfn.create_stack_instances(StackSetName="member", Accounts=[A], Regions=["us-east-1"])["OperationId"]
        # Then it is skipped: the instance stays OUTDATED
        assert _status(cfn, again) == "SUCCEEDED"
        assert instance_states(cfn) == {(A, "us-east-1"): ("OUTDATED", "FAILED")}
        # And an update repairs it
        cfn.update_stack_instances(StackSetName="member", Accounts=[A], Regions=["us-east-1"])
        assert instance_states(cfn) == {(A, "us-east-1"): ("CURRENT", "SUCCEEDED")}


def test_an_account_outside_the_organization_or_an_opt_in_region_not_enabled_fails_its_instance() -> None:
    with mock_aws(), emulation.aws_extensions():
        org = boto3.client("organizations", region_name="us-east-1")
        org.create_organization(FeatureSet="ALL")
        member = org.create_account(AccountName="m", Email="m@example.com")["CreateAccountStatus"]["AccountId"]
        cfn = stackset_client()
        # When instances are created for a member, an account outside the organization, and an opt-in Region
        operation = cfn.create_stack_instances(
            StackSetName="member",
            Accounts=[member, "999999999999"],
            Regions=["us-east-1", "af-south-1"],
            OperationPreferences={"RegionConcurrencyType": "PARALLEL", "FailureTolerancePercentage": 100},
        )["OperationId"]
        summaries = cfn.list_stack_set_operation_results(StackSetName="member", OperationId=operation)["Summaries"]
        outcome = {(s["Account"], s["Region"]): (s["Status"], s["StatusReason"]) for s in summaries}
        # Then only the member in the default Region succeeds; the others fail, each saying why
        assert outcome[(member, "us-east-1")] == ("SUCCEEDED", "")
        assert outcome[("999999999999", "us-east-1")][0] == "FAILED"
        assert "not in the organization" in outcome[("999999999999", "us-east-1")][1]
        assert outcome[(member, "af-south-1")] == (
            "FAILED",
            f"Region af-south-1 is not enabled for account {member} (an opt-in Region)",
        )
        # And once the account enables the Region, an update deploys it
        emulation.STACKSET_FAULTS.enable_region(member, "af-south-1")
        cfn.update_stack_instances(StackSetName="member", Accounts=[member], Regions=["af-south-1"])
        assert instance_states(cfn)[(member, "af-south-1")] == ("CURRENT", "SUCCEEDED")


def test_list_stack_instances_lists_only_the_account_and_region_asked_for() -> None:
    with mock_aws(), emulation.aws_extensions() as _:
        cfn = stackset_client()
        # Given instances for two accounts in two Regions, one of them failed
        emulation.STACKSET_FAULTS.fail("333333333333", "eu-west-1", "Resource handler returned message: boom")
        cfn.create_stack_instances(
            StackSetName="member",
            Accounts=["333333333333", "444444444444"],
            Regions=["us-east-1", "eu-west-1"],
            OperationId="exec-1-create",
            OperationPreferences={"FailureToleranceCount": 1},
        )

        def pairs(**filters: str) -> set[tuple[str, str]]:
            summaries = cfn.list_stack_instances(StackSetName="member", **filters)["Summaries"]
            return {(s["Account"], s["Region"]) for s in summaries}

        # Then StackInstanceAccount lists that account's instances only (its failed one too), as AWS documents
        assert pairs(StackInstanceAccount="333333333333") == {
            ("333333333333", "us-east-1"),
            ("333333333333", "eu-west-1"),
        }
        # And StackInstanceRegion that Region's, both together one pair, and neither every pair
        assert pairs(StackInstanceRegion="eu-west-1") == {("333333333333", "eu-west-1"), ("444444444444", "eu-west-1")}
        assert pairs(StackInstanceAccount="444444444444", StackInstanceRegion="us-east-1") == {
            ("444444444444", "us-east-1")
        }
        assert len(pairs()) == 4
        assert pairs(StackInstanceAccount="999999999999") == set()


def test_policy_targets_are_listed_in_pages_of_at_most_20(org) -> None:
    # Given a backup policy attached to 45 accounts
    enable_backup_policies(org)
    policy_id = org.create_policy(Name="b", Description="d", Content=POLICY, Type="BACKUP_POLICY")["Policy"][
        "PolicySummary"
    ]["Id"]
    accounts = [
        org.create_account(AccountName=f"a{n}", Email=f"a{n}@example.com")["CreateAccountStatus"]["AccountId"]
        for n in range(45)
    ]
    for account_id in accounts:
        org.attach_policy(PolicyId=policy_id, TargetId=account_id)
    # When its targets are listed
    first = org.list_targets_for_policy(PolicyId=policy_id)
    # Then a page holds 20 (or MaxResults), a NextToken leads on, and the pages together hold every target once
    assert len(first["Targets"]) == 20
    assert len(org.list_targets_for_policy(PolicyId=policy_id, MaxResults=7)["Targets"]) == 7
    pages = list(org.get_paginator("list_targets_for_policy").paginate(PolicyId=policy_id))
    assert [len(page["Targets"]) for page in pages] == [20, 20, 5]
    assert sorted(t["TargetId"] for page in pages for t in page["Targets"]) == sorted(accounts)
    # And a token it never gave is refused
    with pytest.raises(ClientError) as raised:
        org.list_targets_for_policy(PolicyId=policy_id, NextToken="not-a-token")
    assert raised.value.response["Error"]["Code"] == "InvalidInputException"
