"""template.yaml's coverage report resources (issue 13): what the linters cannot check."""

import json
import re
from typing import Any

from orgbackup import coverage_report
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
    assert function["Environment"]["Variables"] == {
        "REPORT_BUCKET_NAME": {"Ref": "CoverageReportBucket"},
        "NOTIFICATION_TOPIC_ARN": {"Ref": "NotificationTopic"},
    }
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
    assert "organizations:DescribeEffectivePolicy" in statements["ReadAccountsPoliciesAndParents"]["Action"]


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
