"""Rendering the central vault access policy: exact statements, determinism, the deny statements that are always
kept, the switch to the organization form past the size threshold, partitions, and the session name rules."""

import dataclasses
import json
from typing import Any

import pytest

from orgbackup import vault_policy as vp
from orgbackup.exceptions import ConfigurationError, InvalidInputError
from orgbackup.protection.access import Principal, policy_allows
from orgbackup.settings import Settings

ORG = "o-a1b2c3d4e5"
CENTRAL = "222222222222"
ROLE = "OrgBackupVaultPolicyRole"
ROLE_ARN = f"arn:aws:iam::{CENTRAL}:role/{ROLE}"
REGION = "eu-west-1"
OU_PATHS = ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/", "o-a1b2c3d4e5/r-ab12/ou-ab12-22222222/ou-ab12-33333333/"]
BREAK_GLASS = "arn:aws:iam::999999999999:role/BreakGlass"


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "organization_id": ORG,
        "management_account_id": "111111111111",
        "central_backup_account_id": CENTRAL,
        "backup_regions": (REGION, "eu-central-1"),
        "member_vault_name": "orgbackup-member",
        "central_vault_name": "orgbackup-central",
        "backup_role_name": "OrgBackupServiceRole",
        "member_stackset_name": "orgbackup-member",
        "central_vault_policy_role_name": ROLE,
        "in_scope_ou_ids": ("ou-ab12-11111111", "ou-ab12-33333333"),
    }
    return Settings(**{**values, **overrides})


def accounts(count: int, start: int = 300000000000) -> list[str]:
    return [str(start + index) for index in range(count)]


def statement(policy: vp.VaultPolicy, sid: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [item for item in policy.document["Statement"] if item["Sid"] == sid]
    assert len(matches) == 1, f"{sid} appears {len(matches)} times"
    return matches[0]


DENY_DELETION = {
    "Sid": "DenyRecoveryPointDeletion",
    "Effect": "Deny",
    "Principal": "*",
    "Action": [
        "backup:DeleteBackupVaultAccessPolicy",
        "backup:DeleteBackupVaultLockConfiguration",
        "backup:DeleteRecoveryPoint",
        "backup:DisassociateRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
    ],
    "Resource": "*",
}
DENY_POLICY_CHANGES = {
    "Sid": "DenyVaultPolicyChanges",
    "Effect": "Deny",
    "Principal": "*",
    "Action": [
        "backup:DeleteRecoveryPoint",
        "backup:PutBackupVaultAccessPolicy",
        "backup:UpdateRecoveryPointLifecycle",
    ],
    "Resource": "*",
    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [ROLE_ARN]}},
}


def test_two_accounts_render_the_exact_documented_statements() -> None:
    # Given two onboarded accounts, passed out of order
    # When the policy is rendered
    policy = vp.render_central_vault_policy(settings(), ["444444444444", "333333333333"], REGION)
    # Then it allows CopyIntoBackupVault to exactly their account roots and keeps both denies, nothing else
    assert policy.mode == "accounts"
    assert policy.account_count == 2
    assert policy.document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowCopyIntoFromOnboardedAccounts",
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::333333333333:root", "arn:aws:iam::444444444444:root"]},
                "Action": "backup:CopyIntoBackupVault",
                "Resource": "*",
            },
            DENY_DELETION,
            DENY_POLICY_CHANGES,
        ],
    }


def test_text_is_minified_json_of_the_document() -> None:
    # When a policy is rendered
    policy = vp.render_central_vault_policy(settings(), accounts(3), REGION)
    # Then the text is the document with no whitespace between tokens
    assert json.loads(policy.text) == policy.document
    assert policy.text == json.dumps(policy.document, separators=(",", ":"))
    assert " " not in policy.text
    assert "\n" not in policy.text
    assert policy.size_bytes == len(policy.text.encode())


def test_identical_inputs_in_any_order_give_identical_text() -> None:
    # Given the same accounts in two orders, one with a duplicate
    ids = accounts(25)
    shuffled = [*reversed(ids), ids[3]]
    # When both are rendered
    first = vp.render_central_vault_policy(settings(), ids, REGION)
    second = vp.render_central_vault_policy(settings(), shuffled, REGION)
    # Then the text is byte for byte the same, and the same in every Region
    assert first.text == second.text
    assert first.text == vp.render_central_vault_policy(settings(), ids, "eu-central-1").text
    assert first.account_count == 25


def test_account_list_is_sorted_and_appears_exactly_once_each() -> None:
    # Given accounts in scrambled order
    ids = ["900000000001", "100000000009", "500000000005", "100000000001"]
    # When the policy is rendered
    policy = vp.render_central_vault_policy(settings(), ids, REGION)
    # Then the principals are exactly those accounts' roots, sorted, and no other account ID is in the text
    principals = statement(policy, "AllowCopyIntoFromOnboardedAccounts")["Principal"]["AWS"]
    assert principals == [f"arn:aws:iam::{account_id}:root" for account_id in sorted(ids)]
    for account_id in ids:
        assert policy.text.count(account_id) == 1
    assert "arn:aws:iam::" + CENTRAL + ":root" not in policy.text


def test_one_account_is_still_a_list_of_one() -> None:
    # When one account is rendered
    policy = vp.render_central_vault_policy(settings(), ["333333333333"], REGION)
    # Then the principal keeps its list shape (stable across 1 and N accounts)
    assert statement(policy, "AllowCopyIntoFromOnboardedAccounts")["Principal"] == {
        "AWS": ["arn:aws:iam::333333333333:root"]
    }


def test_no_accounts_keeps_only_the_denies() -> None:
    # When no account has a baseline yet
    policy = vp.render_central_vault_policy(settings(), [], REGION)
    # Then there is no allow statement (IAM rejects an empty principal list) and the denies stay
    assert policy.mode == "accounts"
    assert policy.account_count == 0
    assert policy.document["Statement"] == [DENY_DELETION, DENY_POLICY_CHANGES]


@pytest.mark.parametrize(
    ("overrides", "ids", "org_paths"),
    [
        ({}, accounts(2), None),
        ({}, accounts(50), OU_PATHS),
        ({"in_scope_ou_ids": ()}, accounts(50), None),
    ],
    ids=["accounts", "org-paths", "org"],
)
def test_deny_statements_are_present_in_every_mode(
    overrides: dict[str, Any], ids: list[str], org_paths: list[str] | None
) -> None:
    # When the policy is rendered in each of its forms (a small threshold forces the organization forms)
    threshold = 10_000 if len(ids) == 2 else 1_000
    policy = vp.render_central_vault_policy(settings(**overrides), ids, REGION, org_paths, threshold=threshold)
    # Then both deny statements are there, unchanged, and no action carries a wildcard
    assert statement(policy, "DenyRecoveryPointDeletion") == DENY_DELETION
    assert statement(policy, "DenyVaultPolicyChanges") == DENY_POLICY_CHANGES
    for item in policy.document["Statement"]:
        actions = item["Action"] if isinstance(item["Action"], list) else [item["Action"]]
        assert all("*" not in action for action in actions)
        assert item["Resource"] == "*"


def test_break_glass_principal_is_exempt_from_both_denies() -> None:
    # When a break-glass role is given
    policy = vp.render_central_vault_policy(settings(break_glass_principal_arn=BREAK_GLASS), accounts(2), REGION)
    # Then it alone may delete recovery points, and it and the vault-policy role may change the policy
    deletion = statement(policy, "DenyRecoveryPointDeletion")
    assert deletion["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [BREAK_GLASS]}}
    changes = statement(policy, "DenyVaultPolicyChanges")
    assert changes["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": sorted([ROLE_ARN, BREAK_GLASS])}}


def test_without_break_glass_recovery_point_deletion_is_denied_to_everyone() -> None:
    # When no break-glass principal is given
    policy = vp.render_central_vault_policy(settings(), accounts(2), REGION)
    # Then the deletion deny has no exception at all
    assert "Condition" not in statement(policy, "DenyRecoveryPointDeletion")


def test_switches_to_org_paths_exactly_past_the_threshold() -> None:
    # Given the size of the account form for 10 accounts as the threshold
    at_threshold = vp.render_central_vault_policy(settings(), accounts(10), REGION)
    threshold = at_threshold.size_bytes
    # When 10 accounts are rendered with that threshold, then 11
    ten = vp.render_central_vault_policy(settings(), accounts(10), REGION, OU_PATHS, threshold=threshold)
    eleven = vp.render_central_vault_policy(settings(), accounts(11), REGION, OU_PATHS, threshold=threshold)
    # Then 10 still list accounts (at the threshold is not past it), 11 switch to the org-path condition
    assert ten.mode == "accounts"
    assert ten.text == at_threshold.text
    assert eleven.mode == "org-paths"
    assert eleven.account_count == 11
    # And one byte less of threshold switches 10 as well
    assert vp.render_central_vault_policy(settings(), accounts(10), REGION, OU_PATHS, threshold=threshold - 1).mode == (
        "org-paths"
    )


def test_org_paths_form_names_every_in_scope_ou_path_with_a_trailing_wildcard() -> None:
    # When the org-path form is rendered from entity paths (one given already ending in *, one repeated)
    paths = [OU_PATHS[1], OU_PATHS[0] + "*", OU_PATHS[0]]
    policy = vp.render_central_vault_policy(settings(), accounts(40), REGION, paths, threshold=1_000)
    # Then the allow statement is the documented PrincipalOrgPaths condition, sorted, without account IDs
    assert policy.mode == "org-paths"
    assert policy.document["Statement"][0] == {
        "Sid": "AllowCopyIntoFromInScopeOrgPaths",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "backup:CopyIntoBackupVault",
        "Resource": "*",
        "Condition": {
            "ForAnyValue:StringLike": {
                "aws:PrincipalOrgPaths": [
                    "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*",
                    "o-a1b2c3d4e5/r-ab12/ou-ab12-22222222/ou-ab12-33333333/*",
                ]
            }
        },
    }
    assert "300000000000" not in policy.text
    # (its size does not grow with the accounts: the deny of the management account is its only account ID)
    assert policy.size_bytes < 1_200
    assert vp.render_central_vault_policy(settings(), accounts(400), REGION, paths, threshold=1_000).text == policy.text


def test_org_id_form_when_every_ou_is_in_scope() -> None:
    # Given a deployment with every OU in scope
    everything = settings(in_scope_ou_ids=())
    # When the account form grows past the threshold
    policy = vp.render_central_vault_policy(everything, accounts(40), REGION, threshold=1_000)
    # Then the allow statement is a PrincipalOrgID condition on the organization (no paths needed)
    assert policy.mode == "org"
    assert policy.document["Statement"][0] == {
        "Sid": "AllowCopyIntoFromOrganization",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "backup:CopyIntoBackupVault",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}},
    }


def test_real_default_switches_just_before_the_assumed_limit() -> None:
    # Given the default threshold, a margin below the assumed size limit
    assert vp.DEFAULT_THRESHOLD_BYTES == vp.ASSUMED_SIZE_LIMIT_BYTES - vp.SWITCH_MARGIN_BYTES
    assert 0 < vp.SWITCH_MARGIN_BYTES < vp.ASSUMED_SIZE_LIMIT_BYTES // 4 + 1
    # When the account form's size per account is measured, the switch point is found
    base = vp.render_central_vault_policy(settings(), accounts(1), REGION).size_bytes
    per_account = vp.render_central_vault_policy(settings(), accounts(2), REGION).size_bytes - base
    largest = 1 + (vp.DEFAULT_THRESHOLD_BYTES - base) // per_account
    last = vp.render_central_vault_policy(settings(), accounts(largest), REGION, OU_PATHS)
    first_switched = vp.render_central_vault_policy(settings(), accounts(largest + 1), REGION, OU_PATHS)
    # Then the largest account form is just below the threshold (within one account of it), below the limit
    assert last.mode == "accounts"
    assert vp.DEFAULT_THRESHOLD_BYTES - per_account < last.size_bytes <= vp.DEFAULT_THRESHOLD_BYTES
    assert last.size_bytes < vp.ASSUMED_SIZE_LIMIT_BYTES
    # And one more account switches to the org-path form, which is small
    assert first_switched.mode == "org-paths"
    assert first_switched.size_bytes < 2_000
    # And that point is hundreds of accounts: a 200-account burst still lists every account
    assert largest == 473  # 474 before the Config-rule deny statement (issue 10) took three more actions
    assert vp.render_central_vault_policy(settings(), accounts(200), REGION).mode == "accounts"


def test_org_paths_are_required_past_the_threshold_when_only_some_ous_are_in_scope() -> None:
    # When the account form is too large and the caller gave no org paths
    with pytest.raises(InvalidInputError, match="org_paths is required"):
        vp.render_central_vault_policy(settings(), accounts(40), REGION, threshold=1_000)


@pytest.mark.parametrize(
    ("paths", "why"),
    [
        (["ou-ab12-11111111"], "not an Organizations entity path"),
        (["o-a1b2c3d4e5/r-ab12/"], "not an Organizations entity path"),
        (["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111"], "not an Organizations entity path"),
        (["o-zzzzzzzzzz/r-ab12/ou-ab12-11111111/"], "belongs to organization o-zzzzzzzzzz"),
        ([], "org_paths is empty"),
    ],
)
def test_bad_org_paths_are_named(paths: list[str], why: str) -> None:
    with pytest.raises(InvalidInputError, match=why):
        vp.render_central_vault_policy(settings(), accounts(40), REGION, paths, threshold=1_000)


@pytest.mark.parametrize(
    ("ids", "region", "threshold", "why"),
    [
        (["12345678901"], REGION, vp.DEFAULT_THRESHOLD_BYTES, "'12345678901' is not a 12-digit"),
        (["12345678901a"], REGION, vp.DEFAULT_THRESHOLD_BYTES, "is not a 12-digit"),
        (["333333333333"], "Ireland", vp.DEFAULT_THRESHOLD_BYTES, "region: 'Ireland'"),
        (["333333333333"], REGION, 0, "threshold"),
        (["333333333333"], REGION, vp.ASSUMED_SIZE_LIMIT_BYTES + 1, "threshold"),
    ],
)
def test_bad_arguments_are_named(ids: list[str], region: str, threshold: int, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why):
        vp.render_central_vault_policy(settings(), ids, region, threshold=threshold)


@pytest.mark.parametrize(("partition", "region"), [("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1")])
def test_partition_is_used_in_every_arn(partition: str, region: str) -> None:
    # Given a deployment in another partition (backing up in that partition's Regions)
    break_glass = f"arn:{partition}:iam::999999999999:role/BreakGlass"
    other = settings(partition=partition, backup_regions=(region,), break_glass_principal_arn=break_glass)
    # When the policy is rendered
    policy = vp.render_central_vault_policy(other, ["333333333333"], region)
    # Then every ARN in it is of that partition
    assert statement(policy, "AllowCopyIntoFromOnboardedAccounts")["Principal"] == {
        "AWS": [f"arn:{partition}:iam::333333333333:root"]
    }
    exempt = statement(policy, "DenyVaultPolicyChanges")["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert f"arn:{partition}:iam::{CENTRAL}:role/{ROLE}" in exempt
    assert "arn:aws:" not in policy.text


def test_vault_policy_is_frozen() -> None:
    policy = vp.render_central_vault_policy(settings(), accounts(1), REGION)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.mode = "org"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------------
# Semantic comparison


def test_same_policy_ignores_formatting_order_and_one_element_lists() -> None:
    # Given the rendered text and the same policy as AWS might hand it back
    policy = vp.render_central_vault_policy(settings(), ["444444444444", "333333333333"], REGION)
    reformatted = json.loads(policy.text)
    reformatted["Statement"].reverse()
    reformatted["Statement"][-1]["Principal"]["AWS"].reverse()
    reformatted["Statement"][0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] = ROLE_ARN
    # Then it is the same policy; a policy missing an account, or none at all, is not
    assert vp.same_policy(json.dumps(reformatted, indent=2), policy.text)
    fewer = vp.render_central_vault_policy(settings(), ["333333333333"], REGION)
    assert not vp.same_policy(fewer.text, policy.text)
    assert not vp.same_policy(None, policy.text)
    assert not vp.same_policy("{not json", policy.text)


# ---------------------------------------------------------------------------------------------------------------
# RoleSessionName


@pytest.mark.parametrize(
    ("execution_name", "expected"),
    [
        ("onboard-2024-05-01T10-00-00Z-abc", "onboard-2024-05-01T10-00-00Z-abc"),
        ("batch 7/of:10", "batch-7-of-10"),
        ("user+tag=x,y.z@host_1", "user+tag=x,y.z@host_1"),
        ("é", "orgbackup"),
        ("x", "orgbackup-x"),
        ("", "orgbackup"),
    ],
)
def test_role_session_name_is_sanitized(execution_name: str, expected: str) -> None:
    assert vp.role_session_name(execution_name) == expected


def test_long_execution_names_keep_their_head_and_stay_distinct() -> None:
    # Given two 80-character execution names (the Step Functions maximum) that differ only at the end
    first = "reconcile-" + "a" * 69 + "1"
    second = "reconcile-" + "a" * 69 + "2"
    # When both are turned into session names
    one, two = vp.role_session_name(first), vp.role_session_name(second)
    # Then both are 64 characters, start like the execution name, and differ
    assert len(one) == len(two) == 64
    assert one.startswith("reconcile-aaaa")
    assert one != two
    assert vp.role_session_name(first) == one  # deterministic


# ---------------------------------------------------------------------------------------------------------------
# Security review (issue 10): findings 4, 5 and 11


def denied(policy: vp.VaultPolicy, principal_arn: str, action: str) -> bool:
    """Whether a Deny of the policy applies to ``principal_arn`` (the conditions used here: ArnNotEquals on
    aws:PrincipalArn; no condition means every principal)."""
    for item in policy.document["Statement"]:
        if item["Effect"] != "Deny" or action not in item["Action"]:
            continue
        exempt = item.get("Condition", {}).get("ArnNotEquals", {}).get("aws:PrincipalArn", [])
        if principal_arn not in exempt:
            return True
    return False


@pytest.mark.parametrize("break_glass", [None, BREAK_GLASS])
def test_finding_4_the_vault_policy_role_may_write_the_policy_and_nothing_else(break_glass: str | None) -> None:
    policy = vp.render_central_vault_policy(settings(break_glass_principal_arn=break_glass), accounts(2), REGION)
    assert not denied(policy, ROLE_ARN, "backup:PutBackupVaultAccessPolicy")
    for action in (
        "backup:DeleteRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
        "backup:DisassociateRecoveryPoint",
        "backup:DeleteBackupVaultAccessPolicy",
        "backup:DeleteBackupVaultLockConfiguration",
    ):
        assert denied(policy, ROLE_ARN, action), action
        assert denied(policy, "arn:aws:iam::222222222222:role/Admin", action), action
        if break_glass:
            assert not denied(policy, break_glass, action), action


def test_finding_5_an_empty_vault_can_be_deleted_with_its_stack() -> None:
    # AWS Backup refuses to delete a vault that holds recovery points; the policy does not stand in the way of an
    # empty one (the StackSet execution role deletes it with the stack instance)
    policy = vp.render_central_vault_policy(settings(), accounts(2), REGION)
    assert not denied(policy, "arn:aws:iam::222222222222:role/AWSControlTowerExecution", "backup:DeleteBackupVault")


@pytest.mark.parametrize("break_glass", [None, BREAK_GLASS])
def test_finding_11_one_deny_holds_the_config_rules_three_actions(break_glass: str | None) -> None:
    # AWS Config's backup-recovery-point-manual-deletion-disabled: one Deny with DeleteRecoveryPoint,
    # UpdateRecoveryPointLifecycle and PutBackupVaultAccessPolicy, "*" as Principal and Resource
    policy = vp.render_central_vault_policy(settings(break_glass_principal_arn=break_glass), accounts(2), REGION)
    rule_actions = {
        "backup:DeleteRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
        "backup:PutBackupVaultAccessPolicy",
    }
    suitable = [
        item
        for item in policy.document["Statement"]
        if item["Effect"] == "Deny"
        and item["Principal"] == "*"
        and item["Resource"] == "*"
        and rule_actions <= set(item["Action"])
    ]
    assert len(suitable) == 1
    # Its exceptions are exactly the principalArnList to give the rule
    exempt = suitable[0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert exempt == vp.config_rule_exempt_principals(settings(break_glass_principal_arn=break_glass))
    assert exempt == sorted([ROLE_ARN, *([break_glass] if break_glass else [])])


# ---------------------------------------------------------------------------------------------------------------
# Review finding: the organization forms name no account, so they deny the copy to the accounts the product must
# never let copy in (the account form never names them)

EXCLUDED = ("555555555555", "444444444444")
MANAGEMENT = "111111111111"


def organization_form(overrides: dict[str, Any]) -> vp.VaultPolicy:
    paths = OU_PATHS if settings(**overrides).in_scope_ou_ids else None
    return vp.render_central_vault_policy(settings(**overrides), accounts(40), REGION, paths, threshold=1_000)


def copy_allowed(policy: vp.VaultPolicy, account_id: str, org_path: str) -> tuple[bool, str]:
    """What IAM decides for the account's backup role copying in (``protection.access``: explicit Deny first)."""
    caller = Principal(account_id, f"arn:aws:iam::{account_id}:role/OrgBackupServiceRole", REGION, ORG, (org_path,))
    return policy_allows(policy.text, vp.COPY_ACTION, caller)


@pytest.mark.parametrize("overrides", [{}, {"in_scope_ou_ids": ()}], ids=["org-paths", "org"])
def test_the_organization_forms_deny_the_copy_to_the_excluded_and_management_accounts(
    overrides: dict[str, Any],
) -> None:
    # When an organization form is rendered for a deployment that excludes two accounts
    policy = organization_form({**overrides, "excluded_account_ids": EXCLUDED})
    # Then, after the allow, one Deny of the allowed action names them and the management account by account ID
    assert policy.mode in ("org-paths", "org")
    assert [item["Sid"] for item in policy.document["Statement"]] == [
        vp.SID_ALLOW_ORG_PATHS if policy.mode == "org-paths" else vp.SID_ALLOW_ORG,
        "DenyCopyIntoFromExcludedAccounts",
        "DenyRecoveryPointDeletion",
        "DenyVaultPolicyChanges",
    ]
    assert statement(policy, "DenyCopyIntoFromExcludedAccounts") == {
        "Sid": "DenyCopyIntoFromExcludedAccounts",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "backup:CopyIntoBackupVault",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalAccount": [MANAGEMENT, "444444444444", "555555555555"]}},
    }
    # And the deletion and policy-change denies are unchanged
    assert statement(policy, "DenyRecoveryPointDeletion") == DENY_DELETION
    assert statement(policy, "DenyVaultPolicyChanges") == DENY_POLICY_CHANGES


@pytest.mark.parametrize("overrides", [{}, {"in_scope_ou_ids": ()}], ids=["org-paths", "org"])
def test_an_excluded_account_in_an_in_scope_ou_cannot_copy_in_under_the_organization_forms(
    overrides: dict[str, Any],
) -> None:
    # Given an organization form, and two accounts in the same in-scope OU, one of them excluded
    policy = organization_form({**overrides, "excluded_account_ids": EXCLUDED})
    in_scope = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"
    # Then the one not excluded may copy in, and the explicit Deny wins for the excluded one (the Allow matches it)
    assert copy_allowed(policy, "333333333333", in_scope) == (
        True,
        f"statement {policy.document['Statement'][0]['Sid']} allows it",
    )
    assert copy_allowed(policy, "555555555555", in_scope) == (
        False,
        "statement DenyCopyIntoFromExcludedAccounts denies it",
    )
    # And the management account is refused even where the allow would take in the whole organization
    assert copy_allowed(policy, MANAGEMENT, "o-a1b2c3d4e5/r-ab12/")[0] is False
    # And without the exclusion the same account may copy in: the Deny is what refuses it
    unexcluded = organization_form(overrides)
    assert copy_allowed(unexcluded, "555555555555", in_scope)[0] is True


def test_the_management_account_is_denied_even_with_nothing_excluded_and_the_central_account_never() -> None:
    # Given the central backup account listed in ExcludedAccountIds as well
    policy = organization_form({"excluded_account_ids": (CENTRAL,)})
    # Then only the management account is denied: the central account's copies into its own vault are same-account
    denied_accounts = statement(policy, "DenyCopyIntoFromExcludedAccounts")["Condition"]["StringEquals"]
    assert denied_accounts == {"aws:PrincipalAccount": [MANAGEMENT]}
    assert vp.denied_copy_accounts(settings(excluded_account_ids=(CENTRAL, "555555555555"))) == [
        MANAGEMENT,
        "555555555555",
    ]


def test_the_account_form_has_no_account_deny() -> None:
    # The account form allows by name only the accounts the caller computed (exclusions never among them)
    policy = vp.render_central_vault_policy(settings(excluded_account_ids=EXCLUDED), accounts(2), REGION)
    assert policy.mode == "accounts"
    assert "DenyCopyIntoFromExcludedAccounts" not in policy.text


@pytest.mark.parametrize("overrides", [{}, {"in_scope_ou_ids": ()}], ids=["org-paths", "org"])
def test_a_change_of_excluded_accounts_changes_the_organization_form_a_batch_compares_against(
    overrides: dict[str, Any],
) -> None:
    # Given the organization form in place as a deployment without exclusions rendered it
    paths = OU_PATHS if settings(**overrides).in_scope_ou_ids else None
    before = vp.render_organization_form(settings(**overrides), REGION, paths)
    # When the deployment excludes an account
    after = vp.render_organization_form(settings(**overrides, excluded_account_ids=("555555555555",)), REGION, paths)
    # Then the form it renders is not the one in place (a batch recomputes and writes it: onboarding)
    assert not vp.same_policy(before.text, after.text)
    assert after.account_count is None
    assert (
        "555555555555"
        in statement(after, "DenyCopyIntoFromExcludedAccounts")["Condition"]["StringEquals"]["aws:PrincipalAccount"]
    )
    # And it is exactly the organization form render_central_vault_policy switches to
    switched = vp.render_central_vault_policy(
        settings(**overrides, excluded_account_ids=("555555555555",)), accounts(40), REGION, paths, threshold=1_000
    )
    assert switched.text == after.text


def excluded(count: int) -> tuple[str, ...]:
    return tuple(accounts(count, start=500000000000))


def test_an_organization_form_past_the_size_limit_is_refused_naming_the_exclusions() -> None:
    # Given the largest ExcludedAccountIds whose organization form fits the assumed limit
    base = organization_form({}).size_bytes
    per_account = (
        organization_form({"excluded_account_ids": excluded(2)}).size_bytes
        - organization_form({"excluded_account_ids": excluded(1)}).size_bytes
    )
    largest = (vp.ASSUMED_SIZE_LIMIT_BYTES - base) // per_account
    fits = organization_form({"excluded_account_ids": excluded(largest)})
    assert vp.ASSUMED_SIZE_LIMIT_BYTES - per_account < fits.size_bytes <= vp.ASSUMED_SIZE_LIMIT_BYTES
    # When one more account is excluded
    with pytest.raises(ConfigurationError) as raised:
        organization_form({"excluded_account_ids": excluded(largest + 1)})
    # Then the error names the settings, the size, the limit and what takes the bytes
    message = str(raised.value)
    assert message.startswith("EXCLUDED_ACCOUNT_IDS and IN_SCOPE_OU_IDS make the org-paths form")
    assert f"{fits.size_bytes + per_account} bytes, past the assumed 20480-byte limit" in message
    assert f"the deny of {largest + 2} accounts ({largest + 1} excluded and the management account)" in message
    assert "the allow for 2 in-scope OUs" in message
    assert "exclude fewer accounts" in message
    # And the batch's render refuses it the same way (nothing is written)
    with pytest.raises(ConfigurationError, match="past the assumed 20480-byte limit"):
        vp.render_organization_form(settings(excluded_account_ids=excluded(largest + 1)), REGION, OU_PATHS)
    # And a realistic ExcludedAccountIds fits: a function's environment variables total at most 4 KB ("Environment
    # variables: 4 KB", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), a few hundred IDs
    assert organization_form({"excluded_account_ids": excluded(300)}).size_bytes < vp.ASSUMED_SIZE_LIMIT_BYTES
