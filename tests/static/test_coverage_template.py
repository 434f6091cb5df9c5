"""template.yaml's coverage report resources (issue 13): what the linters cannot check."""

import json
import re
from typing import Any

from orgbackup import coverage_report
from orgbackup.settings import Settings
from orgbackup_tools import function_settings
from orgbackup_tools.deployment import PROJECT_ROOT as ROOT
from orgbackup_tools.deployment import load_template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def props(name: str) -> dict[str, Any]:
    return RESOURCES[name]["Properties"]  # type: ignore[no-any-return]


def test_report_bucket_is_kms_encrypted_private_and_versioned() -> None:
    bucket = props("CoverageReportBucket")
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": "ReportKey.Arn"},
    }
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props("ReportKey")["EnableKeyRotation"] is True


def test_report_bucket_refuses_every_request_without_tls() -> None:
    statements = props("CoverageReportBucketPolicy")["PolicyDocument"]["Statement"]
    deny = next(s for s in statements if s["Effect"] == "Deny")
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(deny["Resource"]) == 2


def test_report_bucket_expires_dated_reports_but_keeps_the_latest() -> None:
    rules = {rule["Id"]: rule for rule in props("CoverageReportBucket")["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireDatedCoverageReports"]["Prefix"] == "coverage/history/"
    assert rules["ExpireDatedCoverageReports"]["ExpirationInDays"] == {"Ref": "ReportRetentionDays"}
    assert not any(rule.get("Prefix") in ("", "coverage/") and "ExpirationInDays" in rule for rule in rules.values())
    assert rules["ExpireOldVersionsAndUploads"]["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0


def test_the_function_runs_daily_and_gets_its_bucket_and_topic() -> None:
    function = props("CoverageReportFunction")
    assert function["CodeUri"] == "functions/coverage_report/"
    variables = function["Environment"]["Variables"]
    own = {
        "REPORT_BUCKET_NAME": {"Ref": "CoverageReportBucket"},
        "NOTIFICATION_TOPIC_ARN": {"Ref": "NotificationTopic"},
        "REPORT_PREFIX": "coverage/",
    }
    assert {key: variables.get(key) for key in own} == own
    # And the deployment's Settings, nothing else
    assert set(variables) - set(own) == function_settings.variables_of((Settings,))
    schedule = props("CoverageReportSchedule")
    assert schedule["ScheduleExpression"] == {"Ref": "CoverageReportScheduleExpression"}
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": "CoverageReportFunction.Arn"}
    assert props("CoverageReportErrorsAlarm")["Dimensions"][0]["Value"] == {"Ref": "CoverageReportFunction"}


def test_the_function_role_reads_jobs_and_writes_only_coverage_reports() -> None:
    statements = {s["Sid"]: s for s in props("CoverageReportRole")["Policies"][0]["PolicyDocument"]["Statement"]}
    assert set(statements["ListJobsAcrossTheOrganization"]["Action"]) == {
        "backup:ListBackupJobs",
        "backup:ListCopyJobs",
        "backup:ListRestoreJobs",
    }
    assert statements["ReadAndWriteCoverageReports"]["Resource"] == {
        "Fn::Sub": "${CoverageReportBucket.Arn}/coverage/*"
    }
    assert "organizations:DescribeEffectivePolicy" in statements["ReadAccountsAndPolicies"]["Action"]


def dashboard() -> dict[str, Any]:
    body, variables = props("CoverageDashboard")["DashboardBody"]["Fn::Sub"]
    names = {"AWS::Region": "us-east-1", "CoverageReportBucket": "bucket", **dict.fromkeys(variables, "x")}
    text = re.sub(r"\$\{([^}!]+)\}", lambda match: names[match.group(1)], body)
    return json.loads(text)  # type: ignore[no-any-return]


def test_dashboard_charts_the_metrics_the_function_emits_onboarding_runs_and_alerts() -> None:
    widgets = dashboard()["widgets"]
    metrics = [line for widget in widgets for line in widget.get("properties", {}).get("metrics", [])]
    coverage = {line[1] for line in metrics if line[0] == "OrgBackup"}
    assert coverage == set(coverage_report.METRIC_NAMES.values())
    assert all(line[2:4] == ["service", "orgbackup"] for line in metrics if line[0] == "OrgBackup")
    assert {line[1] for line in metrics if line[0] == "AWS/States"} >= {"ExecutionsSucceeded", "ExecutionsFailed"}
    searches = [line[0]["expression"] for line in metrics if isinstance(line[0], dict)]
    assert any("AWS/Events" in search and "TriggeredRules" in search for search in searches)
    assert props("CoverageDashboard")["DashboardBody"]["Fn::Sub"][1]["AlertsBus"] == {
        "Fn::GetAtt": "AlertsEventBus.Name"
    }


# ---------------------------------------------------------------------------------------------------------------
# Restore testing and audit controls in the baselines


MEMBER = load_template(ROOT / "stacksets" / "member-account.yaml")
CENTRAL = load_template(ROOT / "stacksets" / "central-backup-account.yaml")


def of_type(document: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in document["Resources"].items() if spec["Type"] == resource_type}


def test_member_restore_tests_are_on_by_default_opt_out_and_opt_in_by_tag() -> None:
    (plan,) = of_type(MEMBER, "AWS::Backup::RestoreTestingPlan").values()
    selections = of_type(MEMBER, "AWS::Backup::RestoreTestingSelection")
    assert MEMBER["Parameters"]["RestoreTesting"]["Default"] == "ENABLED"
    assert MEMBER["Conditions"]["RestoreTestingOn"] == {"Fn::Equals": [{"Ref": "RestoreTesting"}, "ENABLED"]}
    assert plan["Condition"] == "RestoreTestingOn"
    selection = plan["Properties"]["RecoveryPointSelection"]
    assert selection["IncludeVaults"] == [{"Fn::GetAtt": "MemberVault.BackupVaultArn"}]
    assert selection["Algorithm"] == "LATEST_WITHIN_WINDOW"
    assert {spec["Properties"]["ProtectedResourceType"] for spec in selections.values()} == {"EBS", "DynamoDB"}
    for spec in selections.values():
        properties = spec["Properties"]
        assert spec["Condition"] == "RestoreTestingOn"
        assert properties["ProtectedResourceArns"] == ["*"]
        assert properties["ProtectedResourceConditions"]["StringEquals"] == [
            {"Key": {"Fn::Sub": "aws:ResourceTag/${RestoreTestTagKey}"}, "Value": "true"}
        ]
        assert properties["IamRoleArn"] == {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${BackupRoleName}"
        }
        assert properties["ValidationWindowHours"] == {"Ref": "RestoreTestValidationHours"}


def controls(framework: dict[str, Any]) -> dict[str, Any]:
    return {control["ControlName"]: control for control in framework["Properties"]["FrameworkControls"]}


def test_member_framework_checks_the_products_promises() -> None:
    (framework,) = of_type(MEMBER, "AWS::Backup::Framework").values()
    assert framework["Condition"] == "AuditControlsOn"
    assert set(controls(framework)) == {
        "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN",
        "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK",
        "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK",
        "BACKUP_RECOVERY_POINT_ENCRYPTED",
        "BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT",
        "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED",
    }
    retention = controls(framework)["BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK"]["ControlInputParameters"]
    assert retention == [{"ParameterName": "requiredRetentionDays", "ParameterValue": {"Ref": "DailyRetentionDays"}}]


def test_central_vault_lock_controls_exist_only_with_a_lock() -> None:
    (framework,) = of_type(CENTRAL, "AWS::Backup::Framework").values()
    assert framework["Condition"] == "LockAuditOn"
    # (the project's YAML loader reads the short form !Condition as Fn::Condition)
    condition_refs = [next(iter(item.values())) for item in CENTRAL["Conditions"]["LockAuditOn"]["Fn::And"]]
    assert "UseVaultLock" in condition_refs
    assert "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK" in controls(framework)


def test_stacksets_pass_the_opt_out_switches() -> None:
    member = {item["ParameterKey"]: item["ParameterValue"] for item in props("MemberStackSet")["Parameters"]}
    central = {item["ParameterKey"]: item["ParameterValue"] for item in props("CentralStackSet")["Parameters"]}
    assert member["RestoreTesting"] == {"Ref": "RestoreTesting"}
    assert member["AuditControls"] == central["AuditControls"] == {"Ref": "AuditControls"}


def test_organization_wide_job_report_plans_deliver_to_the_report_bucket() -> None:
    plans = {
        spec["Properties"]["ReportSetting"]["ReportTemplate"]: spec
        for spec in of_type(TEMPLATE, "AWS::Backup::ReportPlan").values()
    }
    assert set(plans) == {"BACKUP_JOB_REPORT", "COPY_JOB_REPORT", "RESTORE_JOB_REPORT", "CONTROL_COMPLIANCE_REPORT"}
    compliance = plans["CONTROL_COMPLIANCE_REPORT"]["Properties"]
    assert compliance["ReportSetting"]["FrameworkArns"] == [{"Fn::GetAtt": "ManagementAuditFramework.FrameworkArn"}]
    # Cross-account reports come in CSV only (AWS Backup Developer Guide, "Working with audit reports")
    assert compliance["ReportDeliveryChannel"]["Formats"] == ["CSV"]
    for spec in plans.values():
        assert spec["Condition"] == "AuditControlsOn"
        assert spec["Properties"]["ReportSetting"]["Accounts"] == ["ROOT"]
        channel = spec["Properties"]["ReportDeliveryChannel"]
        assert channel["S3BucketName"] == {"Ref": "CoverageReportBucket"}
        assert channel["S3KeyPrefix"] == "audit"
    # The bucket lets Backup Audit Manager's role write there, and only there
    statements = props("CoverageReportBucketPolicy")["PolicyDocument"]["Statement"]
    allow = next(s for s in statements if s["Sid"] == "AllowBackupAuditManagerReports")
    assert allow["Resource"] == {"Fn::Sub": "${CoverageReportBucket.Arn}/audit/*"}
    assert "AWSServiceRoleForBackupReports" in allow["Condition"]["ArnEquals"]["aws:PrincipalArn"]["Fn::Sub"]


def test_the_management_framework_behind_the_compliance_report_is_the_member_framework() -> None:
    # Given the framework every member account gets and the one the organization-wide compliance report names
    (member,) = of_type(MEMBER, "AWS::Backup::Framework").values()
    management = TEMPLATE["Resources"]["ManagementAuditFramework"]
    assert management["Condition"] == "AuditControlsOn"
    # Then they have the same name and the same controls (the vault they scope is the member vault, by name)
    assert management["Properties"]["FrameworkName"] == member["Properties"]["FrameworkName"]
    member_controls = json.dumps(member["Properties"]["FrameworkControls"]).replace(
        '{"Ref": "MemberVault"}', '{"Ref": "MemberVaultName"}'
    )
    assert json.loads(member_controls) == management["Properties"]["FrameworkControls"]
