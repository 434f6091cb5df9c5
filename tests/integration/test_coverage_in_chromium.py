"""`orgbackup coverage` against the emulated organization, and its HTML page in a real browser.

One headless Chromium launch (Debian's `chromium`; `make setup` installs it) loads the page the emulated run wrote,
dumps the DOM it rendered, logs the page's console to stderr and takes a screenshot. The test asserts on the
rendered DOM (matrix, totals, each cell's state in words), on a console without errors, and on the screenshot's
pixels (the three state colours are drawn). The screenshot stays in pytest's tmp_path (printed on failure).
"""

import json
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from orgbackup.coverage_html import STYLE
from orgbackup_tools import cli

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1200,1100",
]
EXPECTED_CELLS = {
    ("333333333333", "us-east-1"): "protected",
    ("333333333333", "eu-west-1"): "protected",
    ("444444444444", "us-east-1"): "at_risk",
    ("444444444444", "eu-west-1"): "protected",
    ("555555555555", "us-east-1"): "silent",
    ("555555555555", "eu-west-1"): "silent",
}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: `make setup` installs it (apt-get install chromium)")
    return found


class RenderedDom(HTMLParser):
    """The cells, totals and row headers of the DOM Chromium rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict[str, str]] = {}
        self.totals: dict[str, str] = {}
        self.row_headers: list[str] = []
        self._open: list[tuple[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "td" and "data-state" in values:
            key = (values["data-account"], values["data-region"])
            self.cells[key] = {"state": values["data-state"], "text": ""}
            self._open.append(("cell", key))
        elif tag == "li" and "data-state" in values:
            self.totals[values["data-state"]] = ""
            self._open.append(("total", values["data-state"]))
        elif tag == "th" and values.get("scope") == "row":
            self.row_headers.append("")
            self._open.append(("row", len(self.row_headers) - 1))
        else:
            self._open.append(("", None))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for kind, key in self._open:
            if kind == "cell":
                self.cells[key]["text"] += data  # type: ignore[index]
            elif kind == "total":
                self.totals[key] += data  # type: ignore[index]
            elif kind == "row":
                self.row_headers[key] += data  # type: ignore[call-overload]


def png_pixels(path: Path) -> set[tuple[int, int, int]]:
    """The distinct RGB colours of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert colour_type in (2, 6), colour_type
    channels = 4 if colour_type == 6 else 3
    raw, stride = zlib.decompress(idat), width * channels
    previous, colours, position = bytearray(stride), set(), 0
    for _ in range(height):
        kind, line = raw[position], bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        colours.update(tuple(line[i : i + 3]) for i in range(0, stride, channels))  # type: ignore[misc]
        previous = line
    return colours  # type: ignore[return-value]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def test_the_coverage_page_renders_the_matrix_in_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    browser = chromium()
    # Given the page `orgbackup coverage --html` writes for the emulated organization
    page, shot = tmp_path / "coverage.html", tmp_path / "coverage.png"
    assert cli.main(["coverage", "--html", str(page)]) == 0
    assert "SILENT" in capsys.readouterr().out
    # When Chromium loads it (one launch: rendered DOM on stdout, console on stderr, a screenshot)
    result = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Then the console reports nothing from the page
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    # And the rendered DOM holds the accounts x Regions matrix with each cell's state in words
    dom = RenderedDom()
    dom.feed(result.stdout)
    assert {key: cell["state"] for key, cell in dom.cells.items()} == EXPECTED_CELLS
    words = {"protected": "Protected", "at_risk": "At risk", "silent": "Silent"}
    for cell in dom.cells.values():
        assert words[cell["state"]] in cell["text"]
        assert "AWS Backup console" in cell["text"]
    assert "Given key ID is not accessible" in dom.cells[("444444444444", "us-east-1")]["text"]
    assert [re.sub(r"\d+", "", header) for header in dom.row_headers] == ["workload-a", "workload-b-prod", "workload-c"]
    assert {state: re.findall(r"\d+", text)[-1] for state, text in dom.totals.items()} == {
        "protected": "3",
        "at_risk": "1",
        "silent": "2",
    }
    # And the screenshot shows the matrix: every state's background colour is drawn
    print(f"screenshot: {shot}")
    colours = png_pixels(shot)
    for state, (background, _, _) in STYLE.items():
        assert rgb(background) in colours, f"{state} colour {background} not in the screenshot"


def test_coverage_json_is_the_report_and_nothing_else(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["coverage", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["totals"] == {"protected": 3, "at_risk": 1, "silent": 2, "cells": 6}
    cells = {(a["account_id"], r): c for a in document["accounts"] for r, c in a["cells"].items()}
    assert {key: cell["state"] for key, cell in cells.items()} == EXPECTED_CELLS
    assert cells[("555555555555", "us-east-1")]["reason"].startswith("no backup job in 7 days")
    assert document["accounts"][0]["last_restore_test_succeeded"] is not None


def test_coverage_html_into_a_missing_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["coverage", "--html", str(tmp_path / "missing" / "page.html")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()
