"""`orgbackup protection check`: every supported type and Region judged from explicit policy documents (both copy
topologies), the real StackSet templates and the deployment parameters; the inventory, good and bad."""

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from orgbackup import settings_loader
from orgbackup.protection.rules import load_rule_book
from orgbackup.settings import Settings
from orgbackup_tools import cli, deployment
from orgbackup_tools.commands.protection import build_report
from orgbackup_tools.protection_check import Baselines, Checker, stackset_values

CENTRAL = "222222222222"
REGIONS = ("eu-west-1", "eu-central-1")
COPY_PAGE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/recov-point-create-a-copy.html"
CROSS_ACCOUNT_PAGE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html"
RULES = load_rule_book()


def parameters(**overrides: str) -> dict[str, str]:
    values = deployment.deployment_parameters()
    values.update(
        {"BackupRegions": ",".join(REGIONS), "CentralBackupAccountId": CENTRAL, "ManagementAccountId": "111111111111"}
    )
    values.update(overrides)
    return values


def settings() -> Settings:
    return settings_loader.load(Settings, parameters(), naming="cfn")


@functools.cache
def baselines() -> Baselines:
    return Baselines.load(settings(), stackset_values(deployment.load_template(), parameters()))


def vault(region: str, account: str = CENTRAL, name: str = "orgbackup-central") -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{name}"


def plan(regions: list[str], copies: list[str]) -> dict[str, Any]:
    return {
        "regions": {"@@assign": regions},
        "rules": {
            "daily": {
                "schedule_expression": {"@@assign": "cron(0 5 ? * * *)"},
                "target_backup_vault_name": {"@@assign": "orgbackup-member"},
                "copy_actions": {
                    target: {
                        "target_backup_vault_arn": {"@@assign": target},
                        "lifecycle": {"delete_after_days": {"@@assign": "90"}},
                    }
                    for target in copies
                },
            }
        },
        "selections": {
            "tags": {
                "daily": {
                    "iam_role_arn": {"@@assign": "arn:aws:iam::$account:role/OrgBackupServiceRole"},
                    "tag_key": {"@@assign": "backup-plan"},
                    "tag_value": {"@@assign": ["daily"]},
                }
            }
        },
    }


# Today's documents: every Region's backups are copied to the central vault in the FIRST Region.
OLD_TOPOLOGY = [("old", {"plans": {"daily": plan(list(REGIONS), [vault(REGIONS[0])])}})]
# Issue 8's: each Region's backups go to the central vault in the SAME Region, and a same-account DR copy elsewhere.
NEW_TOPOLOGY = [
    (
        "new",
        {
            "plans": {
                f"daily-{region}": plan([region], [vault(region), vault(other, "$account", "orgbackup-member")])
                for region, other in zip(REGIONS, reversed(REGIONS), strict=True)
            }
        },
    )
]


def rows(policies: list[tuple[str, dict]], base: Baselines | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    checker = Checker(settings(), RULES, policies, base or baselines())
    return {(row["resource_type"], row["region"]): row for row in (v.as_dict() for v in checker.types())}


def sources(row: dict[str, Any]) -> set[str]:
    return {reason["source"] for reason in row["reasons"]}


def test_old_topology_flags_rds_and_aurora_copies_from_a_later_region_as_cross_account_and_cross_region() -> None:
    result = rows(OLD_TOPOLOGY)
    for resource_type in ("RDS", "Aurora"):
        later = result[(resource_type, "eu-central-1")]["central_copy"]
        assert later == {
            "status": "refused",
            "targets": [vault("eu-west-1")],
            "cross_account": True,
            "cross_region": True,
        }
        assert COPY_PAGE in sources(result[(resource_type, "eu-central-1")])
        assert result[(resource_type, "eu-central-1")]["restore_path"]["status"] == "member-vault-only"
        first = result[(resource_type, "eu-west-1")]["central_copy"]
        assert (first["status"], first["cross_region"]) == ("depends-on-key", False)
    # Types that may do both in one step are copied either way
    assert result[("S3", "eu-central-1")]["central_copy"]["status"] == "allowed"
    assert result[("EBS", "eu-central-1")]["central_copy"]["status"] == "depends-on-key"


def test_new_topology_copies_every_region_to_its_own_central_vault_and_allows_rds() -> None:
    result = rows(NEW_TOPOLOGY)
    for region in REGIONS:
        rds = result[("RDS", region)]
        assert rds["central_copy"] == {
            "status": "depends-on-key",
            "targets": [vault(region)],
            "cross_account": True,
            "cross_region": False,
        }
        assert CROSS_ACCOUNT_PAGE in sources(rds)
        assert rds["dr_copy"]["status"] == "allowed"
        assert (rds["dr_copy"]["cross_account"], rds["dr_copy"]["cross_region"]) == (False, True)
        assert rds["restore_path"]["status"] == "available"
        assert result[("S3", region)]["central_copy"]["status"] == "allowed"


def test_backups_name_their_vault_and_key() -> None:
    result = rows(NEW_TOPOLOGY)
    assert result[("EFS", "eu-west-1")]["backup"]["key"] == "the member vault key (alias/orgbackup-member)"
    assert result[("EBS", "eu-west-1")]["backup"]["key"] == "the resource's own KMS key"
    assert result[("EBS", "eu-west-1")]["backup"]["vaults"] == ["orgbackup-member"]
    assert result[("EBS", "eu-west-1")]["backup"]["plans"] == ["daily-eu-west-1/daily"]


def test_a_region_no_plan_covers_is_not_backed_up() -> None:
    result = rows([("one", {"plans": {"daily": plan(["eu-west-1"], [vault("eu-west-1")])}})])
    row = result[("S3", "eu-central-1")]
    assert row["backup"]["selected"] is False
    assert row["central_copy"]["status"] == "none"
    assert row["restore_path"]["status"] == "none"


def test_the_real_baselines_give_the_way_back() -> None:
    base = baselines()
    assert base.central_role_name == "OrgBackupCentralBackupRole"
    assert base.central_role_trusts_backup
    assert base.central_role_copies_into == ("arn:aws:backup:*:*:backup-vault:orgbackup-member",)
    checker = Checker(settings(), RULES, NEW_TOPOLOGY, base)
    for resource_type in ("S3", "EBS", "RDS"):
        assert checker.way_back(RULES.rule(resource_type), "eu-west-1")[0] == []


def test_without_the_member_vault_statement_there_is_no_way_back() -> None:
    base = dataclasses.replace(baselines(), member_vault_policy={"Statement": []})
    row = rows(NEW_TOPOLOGY, base)[("S3", "eu-west-1")]
    assert row["restore_path"]["status"] == "blocked"
    assert "member vault's access policy does not allow backup:CopyIntoBackupVault" in row["restore_path"]["how"]


def test_without_the_central_role_there_is_no_way_back() -> None:
    base = dataclasses.replace(baselines(), central_role_name=None, central_role_trusts_backup=False)
    assert rows(NEW_TOPOLOGY, base)[("S3", "eu-west-1")]["restore_path"]["status"] == "blocked"


def test_a_central_key_member_accounts_cannot_use_blocks_the_way_back() -> None:
    base = dataclasses.replace(baselines(), central_key_policy={"Statement": []})
    row = rows(NEW_TOPOLOGY, base)[("EBS", "eu-west-1")]
    assert "central vault key's policy does not allow kms:Decrypt" in row["restore_path"]["how"]


def test_default_deployment_protects_every_supported_type_end_to_end_or_names_the_aws_reason() -> None:
    report = build_report({**deployment.deployment_parameters(), "ManagementAccountId": "111111111111"}, None)
    assert {row["resource_type"] for row in report["types"]} == set(RULES.types)
    for row in report["types"]:
        rule = RULES.rule(row["resource_type"])
        copy = row["central_copy"]
        assert row["backup"]["selected"], row
        # The product never asks AWS Backup for a copy it cannot make because of the topology
        if not rule.cross_account_and_region_in_one_copy:
            assert not (copy["cross_account"] and copy["cross_region"]), row
        if copy["status"] in ("allowed", "depends-on-key"):
            assert row["restore_path"]["status"] == "available", row
        else:
            assert copy["status"] == "refused", row
            assert all(reason["source"].startswith("https://") for reason in row["reasons"]), row
            assert not (rule.cross_account_copy and rule.cross_region_copy), row


# ---------------------------------------------------------------------------------------------------------------
# The command and the inventory


def check(capsys, tmp_path: Path, inventory: Any = None, raw: bytes | None = None, *extra: str) -> tuple[int, str, str]:
    args = ["protection", "check", "--json", "--parameter-overrides", "BackupRegions=eu-west-1", *extra]
    if inventory is not None or raw is not None:
        path = tmp_path / "inventory.json"
        path.write_bytes(raw if raw is not None else json.dumps(inventory).encode())
        args += ["--inventory", str(path)]
    capsys.readouterr()
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_json_report_has_the_documented_shape(capsys, tmp_path) -> None:
    code, out, _ = check(capsys, tmp_path)
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"types", "resources"}
    assert report["resources"] == []
    assert {tuple(sorted(row)) for row in report["types"]} == {
        ("backup", "central_copy", "dr_copy", "reasons", "region", "resource_type", "restore_path")
    }
    assert {row["region"] for row in report["types"]} == {"eu-west-1"}


def test_the_readable_table_lists_every_type(capsys) -> None:
    assert cli.main(["protection", "check"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "TYPE",
        "REGION",
        "BACKUP",
        "(vault)",
        "CENTRAL",
        "COPY",
        "DR",
        "COPY",
        "RESTORE",
    ]
    for resource_type in RULES.types:
        assert f"\n{resource_type} " in out


def test_inventory_resources_are_judged_by_their_tags_and_keys(capsys, tmp_path) -> None:
    inventory = [
        {
            "arn": "arn:aws:ec2:eu-west-1:333333333333:volume/vol-1",
            "kms_key_arn": "arn:aws:kms:eu-west-1:333333333333:alias/aws/ebs",
            "tags": {"backup-plan": "daily"},
        },
        {
            "arn": "arn:aws:ec2:eu-west-1:333333333333:volume/vol-2",
            "key_manager": "CUSTOMER",
            "tags": {"backup-plan": "monthly"},
        },
        {"arn": "arn:aws:s3:::orders", "region": "eu-west-1", "tags": {"backup-plan": "daily"}},
        {"arn": "arn:aws:rds:eu-west-1:333333333333:db:orders"},
        {"arn": "arn:aws:sqs:eu-west-1:333333333333:queue", "tags": {"backup-plan": "daily"}},
    ]
    code, out, _ = check(capsys, tmp_path, inventory)
    assert code == 0
    aws_key, customer_key, bucket, untagged, unsupported = json.loads(out)["resources"]
    assert aws_key["central_copy"]["status"] == "refused"
    assert any("AWS managed key" in reason["text"] for reason in aws_key["reasons"])
    assert aws_key["backup"]["plans"] == ["orgbackup-daily-eu-west-1/daily (tag backup-plan=daily)"]
    assert customer_key["central_copy"]["status"] == "depends-on-key"
    assert customer_key["backup"]["plans"] == ["orgbackup-monthly-eu-west-1/monthly (tag backup-plan=monthly)"]
    assert bucket["central_copy"]["status"] == "allowed"
    assert bucket["restore_path"]["status"] == "available"
    assert untagged["backup"]["selected"] is False
    assert any("tag it backup-plan=daily or backup-plan=monthly" in reason["text"] for reason in untagged["reasons"])
    assert unsupported["supported"] is False


@pytest.mark.parametrize(
    ("inventory", "raw", "code", "message"),
    [
        (None, b"\x89PNG\r\n\x1a\n\x00\x00binary", 2, "not UTF-8 text"),
        (None, b"", 2, "not JSON"),
        (None, b"[{]", 2, "not JSON"),
        ({"arn": "x"}, None, 1, "must be a JSON list of resources, not dict"),
        (["arn:aws:s3:::b"], None, 1, "inventory[0]: must be an object"),
        ([{"arn": "arn:aws:s3:::b", "region": "eu-west-1"}, {}], None, 1, "inventory[1].arn: missing"),
        ([{"arn": 5}], None, 1, "inventory[0].arn: must be a non-empty string"),
        ([{"arn": "arn:nope"}], None, 1, "inventory[0].arn: 'arn:nope' is not an ARN"),
        ([{"arn": "arn:aws:s3:::b"}], None, 1, "inventory[0].region: the ARN names no Region"),
        ([{"arn": "arn:aws:s3:::b", "region": "eu-wst-1x"}], None, 1, "inventory[0].region"),
        (
            [{"arn": "arn:aws:rds:eu-west-1:333333333333:db:a", "key_manager": "ME"}],
            None,
            1,
            "inventory[0].key_manager",
        ),
        (
            [{"arn": "arn:aws:rds:eu-west-1:333333333333:db:a", "kms_key_arn": "key-1"}],
            None,
            1,
            "inventory[0].kms_key_arn",
        ),
        (
            [{"arn": "arn:aws:rds:eu-west-1:333333333333:db:a", "tags": {"env": {"nested": ["junk"]}}}],
            None,
            1,
            "inventory[0].tags.env: must be a string",
        ),
        (
            [{"arn": "arn:aws:rds:eu-west-1:333333333333:db:a", "tags": ["env"]}],
            None,
            1,
            "inventory[0].tags: must be an object",
        ),
        (
            [{"arn": "arn:aws:rds:eu-west-1:333333333333:db:a", "resource_type": "Lambda"}],
            None,
            1,
            "inventory[0].resource_type",
        ),
        (
            [{"arn": "arn:aws:rds:eu-west-1:333333333333:db:a", "owner": "me"}],
            None,
            1,
            "inventory[0].owner: unknown field",
        ),
        ([[[[]]]], None, 1, "inventory[0]: must be an object"),
        (None, b"[" * 100_000 + b"]" * 100_000, 2, "nested too deeply"),
        ([{"arn": "arn:aws:s3:::b", "region": "eu-west-1", "tags": {"k": "v" * 300}}], None, 1, "inventory[0].tags.k"),
    ],
)
def test_bad_inventories_name_the_entry_and_field_and_never_trace_back(
    capsys, tmp_path, inventory, raw, code, message
) -> None:
    got, out, err = check(capsys, tmp_path, inventory, raw)
    assert got == code
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_a_missing_inventory_file_and_bad_overrides_are_unusable_input(capsys, tmp_path) -> None:
    assert cli.main(["protection", "check", "--inventory", str(tmp_path / "missing.json")]) == 2
    assert "cannot read the inventory" in capsys.readouterr().err
    assert cli.main(["protection", "check", "--parameter-overrides", "BackupRegions"]) == 2
    assert "is not Key=Value" in capsys.readouterr().err
