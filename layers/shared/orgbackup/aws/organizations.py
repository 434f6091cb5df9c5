"""The AWS Organizations adapter: every Organizations call the product makes goes through ``Organizations``.

One instance per invocation (``Organizations.of`` reuses the one it is given), so what it learns is asked once:
accounts described, parents (also learned from walking down), OUs found or not, the root. Listings go through
``orgbackup.aws.pages``; every call through ``retry.call``. Errors that mean "not there" become None or False;
any other error propagates.
"""

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from orgbackup import retry
from orgbackup.aws import pages
from orgbackup.observability import logger
from orgbackup.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_organizations.type_defs import AccountTypeDef

BACKUP_POLICY: Final = "BACKUP_POLICY"
# ListAccounts, ListAccountsForParent, ListOrganizationalUnitsForParent: MaxResults 1-20, so at most 20 items a page
# (Organizations API reference, https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html;
# the same range is in botocore's service model, which rejects 21 before the request is sent).
PAGE_SIZE: Final = 20
# OUs nest at most five levels deep under a root (Quotas for AWS Organizations, OU maximum nesting in a root,
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html), so an account's chain of
# parents up to the root holds at most six IDs. The CreateOrganizationalUnit reference adds that the depth "is
# dependent upon the policy types enabled for that root", so five is not certain forever. A walk cut short would
# leave accounts out of scope, unprotected, and only costs calls when it goes on: the safe side is a margin, twice
# the quota. Past it a chain is not an organization's (a cycle, a corrupt answer) and the walk stops.
OU_NESTING_QUOTA: Final = 5
MAX_DEPTH: Final = 2 * OU_NESTING_QUOTA
_GONE: Final = frozenset({"ChildNotFoundException", "AccountNotFoundException", "OrganizationalUnitNotFoundException"})


class Organizations:
    """Organizations for one invocation: lookups cached, calls retried (``orgbackup.retry``)."""

    def __init__(self, client: "OrganizationsClient", backoff: Backoff | None = None) -> None:
        self.client = client
        self.backoff = backoff
        self._accounts: dict[str, AccountTypeDef | None] = {}
        self._parents: dict[str, str] = {}
        self._ou_exists: dict[str, bool] = {}
        self._root_id: str | None = None

    @classmethod
    def of(cls, source: "Organizations | OrganizationsClient", backoff: Backoff | None = None) -> "Organizations":
        """``source`` itself when it is an adapter (its cache is shared), else a new adapter on the client."""
        return source if isinstance(source, Organizations) else cls(source, backoff)

    def _call(self, method: Any, **kwargs: Any) -> Any:
        return retry.call(method, backoff=self.backoff, **kwargs)

    def _pages(self, method: Any, **kwargs: Any) -> Iterator[Any]:
        return pages(method, backoff=self.backoff, **kwargs)

    # --- accounts, parents, paths --------------------------------------------------------------------------------

    def describe_account(self, account_id: str) -> "AccountTypeDef | None":
        """The account, or None when Organizations does not know it."""
        if account_id not in self._accounts:
            try:
                self._accounts[account_id] = self._call(self.client.describe_account, AccountId=account_id)["Account"]
            except ClientError as error:
                if retry.error_code(error) != "AccountNotFoundException":
                    raise
                self._accounts[account_id] = None
        return self._accounts[account_id]

    def parent(self, child_id: str) -> str | None:
        """The direct parent's ID (an OU or the root), or None when the child is not (or no longer) there."""
        if child_id not in self._parents:
            try:
                response = self._call(self.client.list_parents, ChildId=child_id)
            except ClientError as error:
                if retry.error_code(error) in _GONE:
                    return None
                raise
            parents = response.get("Parents", [])
            if not parents:
                return None
            self._parents[child_id] = parents[0]["Id"]
        return self._parents[child_id]

    def remember_parent(self, child_id: str, parent_id: str) -> None:
        """A parent learned from walking down the organization: no ListParents call for it later."""
        self._parents[child_id] = parent_id

    def path(self, child_id: str) -> tuple[str, ...]:
        """Parent IDs from the child's direct parent up to the root (inclusive); shorter when a parent is gone,
        and at most ``MAX_DEPTH`` long."""
        chain: list[str] = []
        child = child_id
        while len(chain) < MAX_DEPTH:
            parent = self.parent(child)
            if parent is None:
                break
            chain.append(parent)
            if parent.startswith("r-"):
                break
            child = parent
        return tuple(chain)

    def ou_exists(self, ou_id: str) -> bool:
        if ou_id not in self._ou_exists:
            try:
                self._call(self.client.describe_organizational_unit, OrganizationalUnitId=ou_id)
                self._ou_exists[ou_id] = True
            except ClientError as error:
                if retry.error_code(error) != "OrganizationalUnitNotFoundException":
                    raise
                self._ou_exists[ou_id] = False
        return self._ou_exists[ou_id]

    def root_id(self) -> str:
        if self._root_id is None:
            self._root_id = str(self._call(self.client.list_roots)["Roots"][0]["Id"])
        return self._root_id

    # --- listing the organization ---------------------------------------------------------------------------

    def accounts(self) -> Iterator["AccountTypeDef"]:
        """Every account of the organization (ListAccounts)."""
        for page in self._pages(self.client.list_accounts, MaxResults=PAGE_SIZE):
            yield from page.get("Accounts", [])

    def accounts_for_parent(self, parent_id: str) -> Iterator["AccountTypeDef"]:
        """The accounts directly under ``parent_id``; each is remembered (described, and its parent known)."""
        for page in self._pages(self.client.list_accounts_for_parent, ParentId=parent_id, MaxResults=PAGE_SIZE):
            for account in page.get("Accounts", []):
                self._accounts[account["Id"]] = account
                self.remember_parent(account["Id"], parent_id)
                yield account

    def child_ous(self, parent_id: str) -> Iterator[str]:
        """The IDs of the OUs directly under ``parent_id``."""
        for page in self._pages(
            self.client.list_organizational_units_for_parent, ParentId=parent_id, MaxResults=PAGE_SIZE
        ):
            for child in page.get("OrganizationalUnits", []):
                self.remember_parent(child["Id"], parent_id)
                yield child["Id"]

    def walk_down(self, ou_ids: Iterable[str]) -> Iterator[tuple["AccountTypeDef", tuple[str, ...]]]:
        """Every account below the given OUs, once, with the OUs from its direct parent up to the given OU that
        holds it. Its cost grows with the OUs walked, not with the organization. An OU that does not exist (or no
        longer) holds no account: it is logged and the others still count."""
        seen: set[str] = set()
        # (OU, the OUs from it up to the given OU it was reached from); nested given OUs are visited once.
        frontier: list[tuple[str, tuple[str, ...]]] = [(ou_id, (ou_id,)) for ou_id in ou_ids]
        visited: set[str] = set()
        while frontier:
            ou_id, chain = frontier.pop(0)
            if ou_id in visited or len(chain) > MAX_DEPTH:
                continue
            visited.add(ou_id)
            try:
                for account in self.accounts_for_parent(ou_id):
                    if account["Id"] not in seen:
                        seen.add(account["Id"])
                        yield account, chain
                frontier.extend((child, (child, *chain)) for child in self.child_ous(ou_id))
            except ClientError as error:
                if retry.error_code(error) not in {"ParentNotFoundException", "OrganizationalUnitNotFoundException"}:
                    raise
                logger.warning("in-scope OU not found", extra={"ou_id": ou_id})

    # --- policies ----------------------------------------------------------------------------------------------

    def effective_backup_policy(self, account_id: str) -> str | None:
        """The account's effective backup policy document (inherited and attached policies merged, operators
        resolved), or None when no backup policy applies to it. DescribeEffectivePolicy takes an account as
        TargetId from the management account (Organizations API reference,
        https://docs.aws.amazon.com/organizations/latest/APIReference/API_DescribeEffectivePolicy.html). Its
        EffectivePolicyNotFoundException is documented for the caller's own account: "If you ran this action on the
        management account, this policy type is not enabled. If you ran the action on a member account, the account
        doesn't have an effective policy of this type"; the reference is silent on a member account asked about from
        the management account. Both readings mean no backup policy reaches the account, so None, which the
        coverage report shows as unprotected: the safe side (it never claims a policy that is not there)."""
        try:
            response = self._call(self.client.describe_effective_policy, PolicyType=BACKUP_POLICY, TargetId=account_id)
        except ClientError as error:
            if retry.error_code(error) == "EffectivePolicyNotFoundException":
                return None
            raise
        content = response["EffectivePolicy"].get("PolicyContent")
        return None if content is None else str(content)

    def backup_policies(self) -> dict[str, str]:
        """Backup policy name -> policy ID, for every backup policy of the organization."""
        return {
            summary["Name"]: summary["Id"]
            for page in self._pages(self.client.list_policies, Filter=BACKUP_POLICY)
            for summary in page["Policies"]
        }

    def describe_policy(self, policy_id: str) -> dict[str, Any]:
        return dict(self._call(self.client.describe_policy, PolicyId=policy_id)["Policy"])

    def create_backup_policy(self, name: str, description: str, content: str, tags: list[dict[str, str]]) -> str:
        created = self._call(
            self.client.create_policy,
            Name=name,
            Description=description,
            Content=content,
            Type=BACKUP_POLICY,
            Tags=tags,
        )
        return str(created["Policy"]["PolicySummary"]["Id"])

    def update_policy(self, policy_id: str, description: str, content: str) -> None:
        self._call(self.client.update_policy, PolicyId=policy_id, Description=description, Content=content)

    def delete_policy(self, policy_id: str) -> None:
        self._call(self.client.delete_policy, PolicyId=policy_id)

    def tags(self, resource_id: str) -> list[dict[str, str]]:
        return list(self._call(self.client.list_tags_for_resource, ResourceId=resource_id)["Tags"])

    def targets_of(self, policy_id: str) -> dict[str, str]:
        """Every target the policy is attached to: target ID -> its Type (ROOT, ORGANIZATIONAL_UNIT, ACCOUNT:
        PolicyTargetSummary)."""
        return {
            target["TargetId"]: str(target.get("Type", ""))
            for page in self._pages(self.client.list_targets_for_policy, PolicyId=policy_id)
            for target in page["Targets"]
        }

    def backup_policies_of(self, target_id: str) -> set[str]:
        """The IDs of the backup policies attached directly to ``target_id``."""
        return {
            policy["Id"]
            for page in self._pages(self.client.list_policies_for_target, TargetId=target_id, Filter=BACKUP_POLICY)
            for policy in page["Policies"]
        }

    def attach(self, policy_id: str, target_id: str) -> bool:
        """Attach; False when it already was (DuplicatePolicyAttachmentException)."""
        try:
            self._call(self.client.attach_policy, PolicyId=policy_id, TargetId=target_id)
        except ClientError as error:
            if retry.error_code(error) != "DuplicatePolicyAttachmentException":
                raise
            return False
        return True

    def detach(self, policy_id: str, target_id: str) -> bool:
        """Detach; False when it was not attached (PolicyNotAttachedException)."""
        try:
            self._call(self.client.detach_policy, PolicyId=policy_id, TargetId=target_id)
        except ClientError as error:
            if retry.error_code(error) != "PolicyNotAttachedException":
                raise
            return False
        return True
