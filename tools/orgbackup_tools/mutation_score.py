"""The score of a `make mutate` run: reads mutmut's per-file results (``mutants/**/*.meta``) and prints killed,
survived and the score (killed + timeout over everything checked), then the surviving mutants by name
(`mutmut show NAME` prints the change). Development-only; `make mutate` runs it after mutmut.

`python -m orgbackup_tools.mutation_score [mutants]` exits 1 when nothing was checked.
"""

import json
import sys
from collections import Counter
from pathlib import Path

# mutmut 3's meaning of a mutant run's exit code (mutmut/__main__.py, status_by_exit_code; its -24, listed twice
# there, ends as a timeout: SIGXCPU).
KILLED = {1, 3}
SURVIVED = {0}
TIMEOUT = {36, 24, -24, 152, 255}
NOT_COVERED = {5, 33}


def classify(code: int | None) -> str:
    if code is None:
        return "not checked"
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in TIMEOUT:
        return "timeout"
    if code in NOT_COVERED:
        return "no tests"
    return "suspicious"


def read(folder: Path) -> dict[str, str]:
    results: dict[str, str] = {}
    for meta in sorted(folder.rglob("*.meta")):
        for name, code in json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"].items():
            results[name] = classify(code)
    return results


def report(results: dict[str, str]) -> tuple[str, int]:
    counts = Counter(results.values())
    checked = sum(count for status, count in counts.items() if status != "not checked")
    caught = counts["killed"] + counts["timeout"]
    lines = [
        f"mutants: {len(results)}, checked: {checked}, "
        + ", ".join(f"{status}: {counts[status]}" for status in sorted(counts)),
    ]
    if checked:
        lines.append(f"score: {caught}/{checked} = {100 * caught / checked:.1f}% caught (timeouts count as caught)")
        lines.append(
            f"killed by a failing test: {counts['killed']}/{checked} = {100 * counts['killed'] / checked:.1f}%"
        )
    lines += ["surviving (mutmut show NAME):", *(f"  {n}" for n, s in sorted(results.items()) if s == "survived")]
    return "\n".join(lines), 0 if checked else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "mutants")
    if not folder.is_dir():
        print(f"{folder}: no mutmut results here (run `make mutate` first)", file=sys.stderr)
        return 2
    text, code = report(read(folder))
    print(text)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
