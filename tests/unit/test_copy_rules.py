"""copy_rules.json and its judgement, table-driven against the cases AWS documents (each case names its page)."""

import json
from pathlib import Path

import pytest

from orgbackup.exceptions import ConfigurationError
from orgbackup.protection.rules import FACTS, RULES_FILE, RuleBook, load_rule_book

BOOK = load_rule_book()
COPY_PAGE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/recov-point-create-a-copy.html"
CROSS_ACCOUNT_PAGE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html"

# (resource type, cross-account, cross-Region, source key manager, status, page of the deciding rule)
CASES = [
    # Copy a backup: "For Amazon RDS and Aurora snapshots, AWS Backup only supports automating either cross-account
    # or cross-Region copies"
    ("RDS", True, True, "CUSTOMER", "refused", COPY_PAGE),
    ("Aurora", True, True, "CUSTOMER", "refused", COPY_PAGE),
    ("RDS", False, True, None, "allowed", None),
    ("Aurora", False, True, "AWS", "allowed", None),
    # Creating backup copies across AWS accounts: a resource key must be a customer managed key shared with the
    # destination account; an AWS managed key cannot be shared
    ("RDS", True, False, "AWS", "refused", CROSS_ACCOUNT_PAGE),
    ("EBS", True, False, "AWS", "refused", CROSS_ACCOUNT_PAGE),
    ("EC2", True, True, "AWS", "refused", CROSS_ACCOUNT_PAGE),
    ("EBS", True, False, "CUSTOMER", "depends-on-key", CROSS_ACCOUNT_PAGE),
    ("EBS", True, True, None, "depends-on-key", CROSS_ACCOUNT_PAGE),
    # ... which does not matter within the account (cross-Region only)
    ("EBS", False, True, "AWS", "allowed", None),
    # Encryption for backups: fully managed types are encrypted with the vault key, so the source key is irrelevant,
    # and one copy may be both cross-account and cross-Region
    ("S3", True, True, "AWS", "allowed", None),
    ("EFS", True, True, None, "allowed", None),
    ("DynamoDB", True, False, None, "allowed", None),
    # Same account, same Region: nothing to decide
    ("Redshift", False, False, None, "allowed", None),
]


@pytest.mark.parametrize(("resource_type", "cross_account", "cross_region", "key", "status", "page"), CASES)
def test_copies_are_judged_as_aws_documents(resource_type, cross_account, cross_region, key, status, page) -> None:
    verdict = BOOK.judge_copy(resource_type, cross_account=cross_account, cross_region=cross_region, key_manager=key)
    assert verdict.status == status
    if page:
        assert page in [reason.source for reason in verdict.reasons]
    if status == "refused":
        assert verdict.reasons
        assert all(reason.source.startswith("https://") for reason in verdict.reasons)


def test_every_type_states_every_fact_with_an_aws_page() -> None:
    document = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    assert len(BOOK.types) == len(document["resource_types"]) >= 16
    for rule in BOOK.types.values():
        assert set(rule.sources) == set(FACTS)
        assert all(
            url.startswith("https://docs.aws.amazon.com/") or "repost.aws" in url for url in rule.sources.values()
        )
    # The types whose backups keep the resource's key (Encryption for backups in AWS Backup)
    source_key = {name for name, rule in BOOK.types.items() if not rule.fully_managed}
    assert {"EBS", "EC2", "RDS", "Aurora", "DocumentDB", "Neptune", "FSx", "Storage Gateway"} <= source_key
    assert {"S3", "EFS", "DynamoDB", "VirtualMachine", "Timestream"}.isdisjoint(source_key)
    single_hop = {name for name, rule in BOOK.types.items() if not rule.cross_account_and_region_in_one_copy}
    assert {"RDS", "Aurora"} <= single_hop


@pytest.mark.parametrize(
    ("arn", "resource_type"),
    [
        ("arn:aws:ec2:eu-west-1:333333333333:volume/vol-1", "EBS"),
        ("arn:aws:ec2:eu-west-1:333333333333:instance/i-1", "EC2"),
        ("arn:aws:rds:eu-west-1:333333333333:db:orders", "RDS"),
        ("arn:aws:rds:eu-west-1:333333333333:cluster:orders", "Aurora"),
        ("arn:aws:s3:::bucket", "S3"),
        ("arn:aws:elasticfilesystem:eu-west-1:333333333333:file-system/fs-1", "EFS"),
        ("arn:aws:dynamodb:eu-west-1:333333333333:table/orders", "DynamoDB"),
        ("arn:aws:fsx:eu-west-1:333333333333:file-system/fs-1", "FSx"),
        ("arn:aws:sqs:eu-west-1:333333333333:queue", None),
        ("not-an-arn", None),
    ],
)
def test_resource_types_are_read_from_arns(arn: str, resource_type: str | None) -> None:
    assert BOOK.resource_type_for_arn(arn) == resource_type


def valid_document() -> dict:
    return json.loads(RULES_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["resource_types"][0].update(backup_key="maybe"), "resource_types[0].backup_key"),
        (lambda d: d["resource_types"][1].update(cross_region_copy="yes"), "resource_types[1].cross_region_copy"),
        (lambda d: d["resource_types"][2]["sources"].pop("restore"), "resource_types[2].sources.restore"),
        (lambda d: d["resource_types"].append(d["resource_types"][0]), "appears twice"),
        (
            lambda d: d["resource_types"][0].update(aws_managed_key_blocks_cross_account_copy=False),
            "resource_types[0].aws_managed_key_blocks_cross_account_copy",
        ),
        (lambda d: d["pages"].update(copy="http://insecure"), "pages.copy"),
        (lambda d: d["rules"]["single_hop"].update(sources=["nowhere"]), "rules.single_hop.sources"),
    ],
)
def test_a_malformed_rules_file_names_the_entry_and_field(change, message: str) -> None:
    document = valid_document()
    change(document)
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        RuleBook(document)


def test_an_unreadable_rules_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigurationError, match="cannot read the copy rules"):
        load_rule_book(path)


def test_an_unknown_type_is_named() -> None:
    with pytest.raises(ConfigurationError, match="'Lambda' is not one AWS Backup supports"):
        BOOK.judge_copy("Lambda", cross_account=True, cross_region=False)
