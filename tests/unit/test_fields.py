"""The one field-reading module: identifier patterns defined once, and reads whose errors name path, value, rule."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orgbackup import fields
from orgbackup.exceptions import InvalidInputError
from orgbackup.fields import Fields
from orgbackup.regions import known_regions

LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared" / "orgbackup"


def test_every_region_botocore_knows_matches_the_region_pattern() -> None:
    # Given every Region of every partition botocore lists / Then each has the shape REGION accepts
    assert [name for name in known_regions() if not re.fullmatch(fields.REGION, name)] == []


@pytest.mark.parametrize("name", ["eu-wset", "EU-WEST-1", "eu-west-1a", "europe-west1", "us-east-12", "eu_west_1", ""])
def test_the_region_pattern_rejects_what_is_no_region_name(name: str) -> None:
    assert re.fullmatch(fields.REGION, name) is None


@pytest.mark.parametrize(("value", "ok"), [("012345678901", True), ("01234567890", False), ("٠١٢٣٤٥٦٧٨٩٠١", False)])
def test_account_ids_are_twelve_ascii_digits(value: str, ok: bool) -> None:
    assert fields.is_account_id(value) is ok


def test_no_other_layer_module_defines_an_account_id_or_region_pattern() -> None:
    # One definition each: the layer spells the patterns in code (raw string literals) only in orgbackup/fields.py.
    pattern = re.compile(r'r"[^"\n]*(\[0-9\]\{12\}|\\d\{12\}|\[a-z\]\{2\}\()')
    spelled = [
        str(path.relative_to(LAYER))
        for path in LAYER.rglob("*.py")
        if path.name != "fields.py" and pattern.search(path.read_text("utf-8"))
    ]
    assert spelled == []


def test_reads_name_the_absolute_path_the_value_and_the_rule() -> None:
    detail = Fields({"detail": {"state": 3, "name": " ", "size": "12x"}}).object("detail")
    with pytest.raises(InvalidInputError, match=r"^detail\.state: must be a string, got number 3$"):
        detail.required_string("state")
    with pytest.raises(InvalidInputError, match=r"^detail\.name: must not be empty$"):
        detail.required_string("name")
    with pytest.raises(InvalidInputError, match=r"^detail\.missing: missing \(the job's account\)$"):
        detail.required_string("missing", "the job's account")
    with pytest.raises(InvalidInputError, match=r"^detail\.size: must be a whole number .* got string '12x'$"):
        detail.whole_number("size")


def test_moved_keys_are_reported_under_their_original_path() -> None:
    # A slimmed-down copy of an event: its key accountId came from detail.account.accountId
    slim = Fields({"accountId": 12}, paths={"accountId": "detail.account.accountId"})
    with pytest.raises(InvalidInputError, match=r"^detail\.account\.accountId: must be a string, got number 12 "):
        slim.account_id("accountId")


def test_another_error_factory_is_raised_instead() -> None:
    class RecordProblem(Exception):
        pass

    with pytest.raises(RecordProblem, match=r"^ou: 'x' is not an OU ID"):
        Fields({"ou": "x"}, error=RecordProblem).ou_id("ou")


def test_optional_reads_treat_absent_and_empty_as_none() -> None:
    data = Fields({"arn": {}, "time": "", "when": 1_700_000_000_000, "list": None})
    assert (data.arn("arn"), data.timestamp("time"), data.string_list("list")) == (None, None, ())
    assert data.timestamp("when") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert data.nested("absent").string("anything") is None


def test_long_values_are_cut_in_reasons() -> None:
    assert fields.show("x" * 100) == f"'{'x' * 63}... (102 chars)"
    assert fields.show_json(["y" * 100]) == '["' + "y" * 75 + "..."
