"""deployment.load_template keeps each parse (template.yaml takes most of a second to parse): what it returns must
still be what the file says now, and each caller's own copy."""

from pathlib import Path

from orgbackup_tools import deployment


def test_each_caller_gets_its_own_copy() -> None:
    # Given the template loaded once and changed by that caller
    first = deployment.load_template()
    first["Resources"].clear()
    # When another caller loads it
    second = deployment.load_template()
    # Then it has the file's resources
    assert second["Resources"]
    assert second == deployment.load_template()


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    # Given a template loaded once
    path = tmp_path / "template.yaml"
    path.write_text("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n", encoding="utf-8")
    assert list(deployment.load_template(path)["Resources"]) == ["Topic"]
    # When the file changes (same size, at once)
    path.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n", encoding="utf-8")
    # Then the next load says what the file says now, short forms expanded as before
    assert deployment.load_template(path)["Resources"] == {"Queue": {"Type": "AWS::SQS::Queue"}}
    path.write_text("Value: !Ref Queue\n", encoding="utf-8")
    assert deployment.load_template(path) == {"Value": {"Ref": "Queue"}}
