"""The coverage report as one self-contained HTML page: an accounts x Regions matrix, totals, each cell's state in
colour *and* words, its reason and a console link. Standard library only (string templates, every value escaped);
no script, no external asset (styles inline), so it opens from S3, a mail attachment or a file alike.
"""

from collections.abc import Mapping
from html import escape
from string import Template
from typing import Any, Final

# Colour and a symbol per state, so the state never depends on colour vision alone. Text colours meet WCAG AA on
# their backgrounds.
STYLE: Final[Mapping[str, tuple[str, str, str]]] = {
    "protected": ("#e6f4ea", "#1e6b34", "\u2714"),
    "at_risk": ("#fff4e0", "#8a4b00", "\u26a0"),
    "silent": ("#fde8e8", "#a11d1d", "\u2716"),
}
MEANINGS: Final[Mapping[str, str]] = {
    "protected": "backups completed, copies reached the central vault where the policy asks for them, nothing failed "
    "in the last 24 h",
    "at_risk": "jobs run, but backups or copies failed, copies into the central vault are missing, the baseline is not "
    "current, no backup policy covers the Region, or the latest restore test failed",
    "silent": "no backup job at all in the last 7 days: nothing alerts for this, the reason says why",
}

PAGE: Final = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1a1a1a;background:#fff}
h1{font-size:20px;margin:0 0 4px}
p.meta{color:#555;margin:0 0 16px}
.totals{display:flex;gap:12px;margin:0 0 16px;padding:0;list-style:none}
.totals li{padding:8px 14px;border-radius:6px;font-weight:600}
table.matrix{border-collapse:collapse;width:100%}
.matrix th,.matrix td{border:1px solid #ccc;padding:8px;vertical-align:top;text-align:left}
.matrix thead th{background:#f3f3f3}
.matrix th.account small{display:block;color:#555;font-weight:400}
.cell .state{font-weight:700;display:block}
.cell .reason{display:block;margin:4px 0}
.cell .facts{display:block;color:#333;font-size:12px}
.cell a{font-size:12px}
$state_rules
dl.legend{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin-top:16px}
dl.legend dt{font-weight:700;padding:2px 8px;border-radius:4px}
dl.legend dd{margin:0}
</style>
</head>
<body>
<h1>$title</h1>
<p class="meta">Organization $organization_id &middot; generated $generated_at &middot; $cells cells
($accounts accounts &times; $regions_count Regions)</p>
<ul class="totals" id="totals">
$totals
</ul>
<table class="matrix" id="matrix">
<thead><tr><th scope="col">Account</th>$region_headers</tr></thead>
<tbody>
$rows
</tbody>
</table>
<dl class="legend" id="legend">
$legend
</dl>
</body>
</html>
""")


def _state_rules() -> str:
    return "\n".join(
        f".state-{state}{{background:{background};color:{text}}}" for state, (background, text, _) in STYLE.items()
    )


def _facts(cell: Mapping[str, Any]) -> str:
    jobs = cell["jobs"]
    day_backups = jobs["backup"]["24h"]
    day_copies = jobs["copy"]["24h"]
    parts = [
        f"last 24 h: backups {day_backups['completed'] + day_backups['completed_with_issues']} ok, "
        f"{day_backups['failed']} failed; copies {day_copies['completed'] + day_copies['completed_with_issues']} ok, "
        f"{day_copies['failed']} failed",
        f"last central copy: {cell['last_central_copy_completed'] or 'none in 7 days'}",
        f"last restore test passed: {cell['last_restore_test_succeeded'] or 'none'}",
    ]
    baseline = cell["baseline"]
    vault = (
        f"member vault written {cell['member_vault_written']}"
        if cell["member_vault_written"]
        else "member vault not written in 7 days"
    )
    parts.append(f"baseline: {baseline['status'] if baseline else 'none'}; {vault}")
    policy = cell["policy"]
    parts.append(f"plans: {', '.join(policy['plans']) if policy else 'none'}")
    return "<br>".join(escape(part) for part in parts)


def _cell(account_id: str, region: str, cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return f'<td class="cell" data-account="{escape(account_id)}" data-region="{escape(region)}">not assessed</td>'
    state = str(cell["state"])
    symbol = STYLE.get(state, ("", "", "?"))[2]
    link = (
        f'<a href="{escape(cell["console_url"])}" rel="noopener">AWS Backup console ({escape(region)})</a>'
        if cell.get("console_url")
        else ""
    )
    return (
        f'<td class="cell state-{escape(state)}" data-account="{escape(account_id)}" data-region="{escape(region)}" '
        f'data-state="{escape(state)}">'
        f'<span class="state">{symbol} {escape(str(cell["label"]))}</span>'
        f'<span class="reason">{escape(str(cell["reason"]))}</span>'
        f'<span class="facts">{_facts(cell)}</span>{link}</td>'
    )


def render(report: Mapping[str, Any]) -> str:
    """The page for a report's JSON form (``coverage.Report.to_dict()``)."""
    regions: list[str] = list(report["regions"])
    totals = report["totals"]
    rows = []
    for account in report["accounts"]:
        cells = "".join(_cell(account["account_id"], region, account["cells"].get(region)) for region in regions)
        header = (
            f'<th scope="row" class="account">{escape(account["name"])}<small>{escape(account["account_id"])}'
            f"</small></th>"
        )
        rows.append(f'<tr data-account="{escape(account["account_id"])}">{header}{cells}</tr>')
    total_items = "\n".join(
        f'<li class="state-{state}" data-state="{state}">{STYLE[state][2]} {escape(label)}: '
        f'<span class="count">{int(totals[state])}</span></li>'
        for state, label in (("protected", "Protected"), ("at_risk", "At risk"), ("silent", "Silent"))
    )
    legend = "\n".join(
        f'<dt class="state-{state}">{STYLE[state][2]} {escape(state.replace("_", " ").capitalize())}</dt>'
        f"<dd>{escape(meaning)}</dd>"
        for state, meaning in MEANINGS.items()
    )
    return PAGE.substitute(
        title="Is everything protected? orgbackup coverage report",
        state_rules=_state_rules(),
        organization_id=escape(str(report["organization_id"])),
        generated_at=escape(str(report["generated_at"])),
        cells=int(totals["cells"]),
        accounts=len(report["accounts"]),
        regions_count=len(regions),
        totals=total_items,
        region_headers="".join(f'<th scope="col">{escape(region)}</th>' for region in regions),
        rows="\n".join(rows) if rows else f'<tr><td colspan="{len(regions) + 1}">No account in scope.</td></tr>',
        legend=legend,
    )
