"""AWS Backup's copy and encryption facts per resource type, read from ``copy_rules.json``, and the judgement of
one copy (from a source account and Region to a target account and Region) against them.

The data file holds, per resource type AWS Backup supports:

``backup_key``
    ``vault``: the type has full AWS Backup management; its backups are encrypted with the backup vault's key and
    a cross-account copy is re-encrypted with the destination vault's key. ``source``: its backups keep the source
    resource's key (EBS, EC2, RDS, Aurora, ...), so a cross-account copy needs that key to be customer managed and
    shared with the destination account; an AWS managed key can never be (*Encryption for backups in AWS Backup*,
    *Creating backup copies across AWS accounts*).
``cross_region_copy`` / ``cross_account_copy``
    Whether AWS Backup copies the type to another Region / account (*Feature availability by resource*).
``cross_account_and_region_in_one_copy``
    Whether one copy action may be both (*Copy a backup*: not for RDS and Aurora).
``aws_managed_key_blocks_cross_account_copy``
    Whether a resource encrypted with an AWS managed key (aws/ebs, aws/rds, ...) can never be copied to another
    account: true exactly for the types whose backups keep the source key (the file is checked for that).
``restore``
    Whether AWS Backup restores the type.
``sources``
    For each fact, the key of the page (``pages``) it comes from; ``notes`` says where the pages are silent and the
    safe side was chosen; ``notes_source`` is the page of the notes.

Pure: no AWS calls. ``load_rule_book()`` raises ConfigurationError naming the entry and field of a malformed file.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

from orgbackup.exceptions import ConfigurationError

RULES_FILE: Final = Path(__file__).with_name("copy_rules.json")
FACTS: Final = (
    "backup_key",
    "cross_region_copy",
    "cross_account_copy",
    "cross_account_and_region_in_one_copy",
    "aws_managed_key_blocks_cross_account_copy",
    "restore",
)
KeyManager = Literal["AWS", "CUSTOMER"]
CopyStatus = Literal["allowed", "refused", "depends-on-key"]


@dataclass(frozen=True)
class Reason:
    """One rule that decides something, in words, with the AWS page it comes from."""

    text: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"text": self.text, "source": self.source}


@dataclass(frozen=True)
class ResourceRule:
    resource_type: str
    name: str
    arn: tuple[str, ...]
    backup_key: Literal["vault", "source"]
    cross_region_copy: bool
    cross_account_copy: bool
    cross_account_and_region_in_one_copy: bool
    aws_managed_key_blocks_cross_account_copy: bool
    restore: bool
    sources: Mapping[str, str]
    notes: str
    notes_source: str

    @property
    def fully_managed(self) -> bool:
        return self.backup_key == "vault"


@dataclass(frozen=True)
class CopyVerdict:
    status: CopyStatus
    reasons: tuple[Reason, ...]

    @property
    def possible(self) -> bool:
        """AWS Backup can make this copy for at least some resources of the type."""
        return self.status != "refused"


class RuleBook:
    """The data file, checked, with lookups by type and by resource ARN."""

    def __init__(self, document: Any, where: str = "copy_rules.json") -> None:
        self.where = where
        if not isinstance(document, dict):
            raise self._bad("$", "must be a JSON object")
        self.pages = self._pages(document.get("pages"))
        self.rules = self._rules(document.get("rules"))
        entries = document.get("resource_types")
        if not isinstance(entries, list) or not entries:
            raise self._bad("resource_types", "must be a non-empty list")
        self.types: dict[str, ResourceRule] = {}
        for index, entry in enumerate(entries):
            rule = self._resource_rule(index, entry)
            if rule.resource_type in self.types:
                raise self._bad(f"resource_types[{index}].resource_type", f"{rule.resource_type!r} appears twice")
            self.types[rule.resource_type] = rule

    # -- reading ---------------------------------------------------------------------------------------------
    def _bad(self, path: str, why: str) -> ConfigurationError:
        return ConfigurationError(f"{self.where}: {path}: {why}")

    def _pages(self, pages: Any) -> dict[str, str]:
        if not isinstance(pages, dict) or not pages:
            raise self._bad("pages", "must map page keys to URLs")
        for key, url in pages.items():
            if not isinstance(url, str) or not url.startswith("https://"):
                raise self._bad(f"pages.{key}", f"{url!r} is not an https URL")
        return dict(pages)

    def _rules(self, rules: Any) -> dict[str, Reason]:
        if not isinstance(rules, dict):
            raise self._bad("rules", "must be an object")
        out: dict[str, Reason] = {}
        for key, rule in rules.items():
            if not isinstance(rule, dict) or not isinstance(rule.get("text"), str):
                raise self._bad(f"rules.{key}", "needs a text")
            sources = rule.get("sources")
            if not isinstance(sources, list) or not sources or any(item not in self.pages for item in sources):
                raise self._bad(f"rules.{key}.sources", f"{sources!r} must list keys of pages")
            out[key] = Reason(rule["text"], self.pages[sources[0]])
        return out

    def _resource_rule(self, index: int, entry: Any) -> ResourceRule:
        path = f"resource_types[{index}]"
        if not isinstance(entry, dict):
            raise self._bad(path, "must be an object")
        for name in ("resource_type", "name"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise self._bad(f"{path}.{name}", "must be a non-empty string")
        if entry.get("backup_key") not in ("vault", "source"):
            raise self._bad(f"{path}.backup_key", f"{entry.get('backup_key')!r} must be 'vault' or 'source'")
        for name in FACTS[1:]:
            if not isinstance(entry.get(name), bool):
                raise self._bad(f"{path}.{name}", f"{entry.get(name)!r} must be true or false")
        arn = entry.get("arn")
        if not isinstance(arn, list) or not arn or not all(isinstance(item, str) and item for item in arn):
            raise self._bad(f"{path}.arn", "must list 'service:resource-prefix' strings")
        sources = entry.get("sources")
        if not isinstance(sources, dict):
            raise self._bad(f"{path}.sources", "must be an object")
        for fact in FACTS:
            if sources.get(fact) not in self.pages:
                raise self._bad(f"{path}.sources.{fact}", f"{sources.get(fact)!r} is not a key of pages")
        if entry["aws_managed_key_blocks_cross_account_copy"] != (entry["backup_key"] == "source"):
            raise self._bad(
                f"{path}.aws_managed_key_blocks_cross_account_copy",
                "must be true exactly when backup_key is 'source' (only a backup that keeps the resource's key "
                "depends on that key)",
            )
        notes_source = entry.get("notes_source", "feature-availability")
        if notes_source not in self.pages:
            raise self._bad(f"{path}.notes_source", f"{notes_source!r} is not a key of pages")
        return ResourceRule(
            resource_type=entry["resource_type"],
            name=entry["name"],
            arn=tuple(arn),
            backup_key=entry["backup_key"],
            cross_region_copy=entry["cross_region_copy"],
            cross_account_copy=entry["cross_account_copy"],
            cross_account_and_region_in_one_copy=entry["cross_account_and_region_in_one_copy"],
            aws_managed_key_blocks_cross_account_copy=entry["aws_managed_key_blocks_cross_account_copy"],
            restore=entry["restore"],
            sources={fact: self.pages[sources[fact]] for fact in FACTS},
            notes=str(entry.get("notes") or ""),
            notes_source=self.pages[notes_source],
        )

    # -- lookups ---------------------------------------------------------------------------------------------
    def rule(self, resource_type: str) -> ResourceRule:
        if resource_type not in self.types:
            known = ", ".join(sorted(self.types))
            raise ConfigurationError(f"resource type {resource_type!r} is not one AWS Backup supports ({known})")
        return self.types[resource_type]

    def resource_type_for_arn(self, arn: str) -> str | None:
        """The AWS Backup resource type of a resource ARN, or None. An RDS cluster ARN is Aurora's: DocumentDB and
        Neptune clusters share the format (and the copy rules); give the type explicitly to tell them apart."""
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn":
            return None
        service, resource = parts[2], parts[5]
        for rule in self.types.values():
            for pattern in rule.arn:
                pattern_service, _, prefix = pattern.partition(":")
                if service == pattern_service and resource.startswith(prefix):
                    return rule.resource_type
        return None

    # -- judgement -------------------------------------------------------------------------------------------
    def judge_copy(
        self,
        resource_type: str,
        *,
        cross_account: bool,
        cross_region: bool,
        key_manager: KeyManager | None = None,
        target_account: str = "the destination account",
    ) -> CopyVerdict:
        """Can AWS Backup make this copy of a backup of ``resource_type``? ``key_manager`` is the source resource's
        key manager when known (it matters only for types whose backups keep the source key)."""
        rule = self.rule(resource_type)
        if not cross_account and not cross_region:
            return CopyVerdict("allowed", ())
        refusals: list[Reason] = []
        if cross_region and not rule.cross_region_copy:
            refusals.append(
                Reason(f"{rule.name}: AWS Backup does not copy it to another Region", rule.sources["cross_region_copy"])
            )
        if cross_account and not rule.cross_account_copy:
            refusals.append(
                Reason(
                    f"{rule.name}: AWS Backup does not copy it to another account", rule.sources["cross_account_copy"]
                )
            )
        if cross_account and cross_region and not rule.cross_account_and_region_in_one_copy and not refusals:
            single_hop = self.rules["single_hop"]
            refusals.append(
                Reason(
                    f"{rule.name}: one copy cannot be both cross-account and cross-Region ({single_hop.text})",
                    rule.sources["cross_account_and_region_in_one_copy"],
                )
            )
        if refusals:
            return CopyVerdict("refused", tuple(refusals))
        if not cross_account:
            return CopyVerdict("allowed", ())
        if not rule.aws_managed_key_blocks_cross_account_copy:
            return CopyVerdict("allowed", (self.rules["vault_key"],))
        aws_managed, shared = self.rules["aws_managed_key"], self.rules["customer_key_shared"]
        if key_manager == "AWS":
            return CopyVerdict(
                "refused",
                (
                    Reason(
                        f"{rule.name}: the resource's key is an AWS managed key. {aws_managed.text}", aws_managed.source
                    ),
                ),
            )
        if key_manager == "CUSTOMER":
            return CopyVerdict(
                "depends-on-key",
                (
                    Reason(
                        f"{rule.name}: the key is customer managed; its policy must allow {target_account}. "
                        f"{shared.text}",
                        shared.source,
                    ),
                ),
            )
        return CopyVerdict(
            "depends-on-key",
            (
                Reason(f"{rule.name}: backups keep the resource's own key. {aws_managed.text}", aws_managed.source),
                Reason(f"{shared.text}; it must allow {target_account}", shared.source),
            ),
        )


@cache
def load_rule_book(path: Path | None = None) -> RuleBook:
    """The rule book from ``path`` (default: the packaged ``copy_rules.json``)."""
    path = path or RULES_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigurationError(f"{path}: cannot read the copy rules: {error}") from error
    return RuleBook(document, where=str(path.name))
