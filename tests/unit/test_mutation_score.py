"""`make mutate`'s score: mutmut's exit codes read as killed, survived, timeout, not checked."""

import json
from pathlib import Path

from orgbackup_tools import mutation_score


def test_the_score_counts_what_was_checked_and_names_the_survivors(tmp_path: Path) -> None:
    # Given mutmut's results for one file: two killed, one timeout, one survivor, one not checked
    (tmp_path / "src").mkdir()
    codes = {"m.x_a__mutmut_1": 1, "m.x_a__mutmut_2": 3, "m.x_b__mutmut_1": -24, "m.x_b__mutmut_2": 0, "m.x_c": None}
    (tmp_path / "src" / "m.py.meta").write_text(json.dumps({"exit_code_by_key": codes}), encoding="utf-8")
    # When scoring them
    text, code = mutation_score.report(mutation_score.read(tmp_path))
    # Then timeouts count as caught, unchecked mutants are left out, and the survivor is named
    assert "score: 3/4 = 75.0% caught" in text
    assert "killed by a failing test: 2/4 = 50.0%" in text
    assert text.endswith("surviving (mutmut show NAME):\n  m.x_b__mutmut_2")
    assert code == 0


def test_nothing_checked_is_a_failure_and_no_results_a_clear_message(tmp_path: Path, capsys) -> None:
    assert mutation_score.report({"m.x": "not checked"})[1] == 1
    assert mutation_score.main([str(tmp_path / "missing")]) == 2
    assert "no mutmut results here" in capsys.readouterr().err
