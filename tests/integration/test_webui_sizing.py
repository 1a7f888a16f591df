"""The web UI sizes a test and reports it, in headless Chromium: the start form's users, ramp-up and
run time are honoured, the scenario's stages are shown, only the fields that apply appear, and
after the stop the Harness tab holds the verdicts, the interruption state and the report's path.

Debian's chromium through Playwright (``executable_path``); real processes on loopback.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.test_webui import CHROMIUM, harness_rows, read_table, wait_for, web_ui

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]


@pytest.fixture
def flash_sale_ui(tmp_path: Path) -> Any:
    """``loadsim ui flash-sale``: the open model, whose stop used to log an error per idle user."""
    report = tmp_path / "report"
    with web_ui(tmp_path, "flash-sale", "--report-dir", str(report)) as (url, log_path, _):
        yield url, report, log_path


def label(page: Any, field: str) -> tuple[str, bool]:
    """The label of the form field named ``field``, and whether it shows whole (no ellipsis)."""
    text, fits = page.evaluate(
        """(name) => {
            const input = document.querySelector(`[name=${name}]`);
            const box = input && input.closest('.MuiFormControl-root, .MuiTextField-root');
            const label = box && box.querySelector('label');
            return label ? [label.textContent, label.scrollWidth <= label.clientWidth + 1] : ['', false];
        }""",
        field,
    )
    return str(text), bool(fits)


def test_the_form_sizes_the_test_and_the_harness_tab_reports_it(flash_sale_ui: Any) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    url, report, log_path = flash_sale_ui
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            # Users and ramp-up are editable and show the scenario's own numbers.
            users = page.locator("input[name=userCount]")
            assert users.is_editable() and users.input_value() == "400"
            page.get_by_text("Custom parameters").click()
            names = set(page.eval_on_selector_all("form [name]", "es => es.map(e => e.name)"))
            assert "endpoint" not in names, "the journeys locustfile has no endpoint to choose"
            assert {"scenario", "target", "appId", "rate"} <= names
            text, _ = label(page, "scenario")
            assert "90 s at 5/s" in text and "120 s at 50/s" in text, text  # the scenario's stages
            for field in ("target", "scenario"):
                assert label(page, field)[1], f"the {field} label is cut off: {label(page, field)[0]}"

            # Size it: 12 users at 12/s for 6 s, 4 sessions a second.
            users.fill("12")
            page.locator("input[name=spawnRate]").fill("12")
            page.get_by_text("Advanced options").click()
            page.locator("input[name=runTime]").fill("6s")
            page.locator("input[name=rate]").fill("4")
            page.locator("input[name=thinkScale]").fill("0")
            page.get_by_role("button", name="Start").click()

            page.get_by_role("tab", name="Harness").click()
            rows = wait_for(
                lambda: (r := harness_rows(page)) and r.get(("load", "stage 1 users"), {}).get("Count") == "12" and r,
                30,
                "the form's 12 users in the load profile",
            )
            # The form's numbers scale the scenario's stages, as --users, --rate and --run-time do:
            # flash-sale's three stages in 6 s, its flash at the form's 4 sessions a second.
            assert rows[("load", "stage 1 users")]["Detail"].startswith("0-1.8 s, spawn 12/s, target 0.4/s")
            assert rows[("load", "stage 2 users")]["Detail"].startswith("1.8-4.2 s, spawn 12/s, target 4/s")
            assert rows[("load", "stage 3 users")]["Detail"].startswith("4.2-6 s, spawn 12/s, target 0.4/s")

            # The run time stops it by itself; then the verdicts, the interruption state and the report.
            final = wait_for(
                lambda: (r := harness_rows(page)) and ("report", "report") in r and r, 60, "the report after the stop"
            )
            assert final[("verdict", "result")]["Count"] in ("PASSED", "FAILED", "INTERRUPTED")
            assert final[("verdict", "interrupted")]["Count"] in ("yes", "no")
            slos = [name for kind, name in final if kind == "slo"]
            assert any("p99" in name for name in slos) and any("dropped" in name for name in slos)
            assert final[("report", "report")]["Detail"] == str(report.resolve())
            kinds_and_names = Counter((r["Kind"], r["Name"]) for r in read_table(page) if "Kind" in r)
            assert [k for k, n in kinds_and_names.items() if n > 1] == []  # no row twice
            assert ("step", "externalIds") not in final and ("endpoint", "externalIds") in final
            peak = final[("arrivals", "stage 2 arrivals")]  # each stage counted on its own
            assert int(peak["Count"]) > 0 and peak["Detail"].endswith("target 4/s"), peak
        finally:
            browser.close()

    summary = orjson.loads((report / "summary.json").read_bytes())
    assert 5 <= summary["timing"]["duration_s"] < 20, summary["timing"]  # the form's 6 s, not 300
    # At most what the form's 6 s of scaled stages plan (counted from the first arrival), not flash-sale's 300 s.
    assert 0 < summary["arrivals"]["planned"] <= 1.8 * 0.4 + 2.4 * 4 + 1.8 * 0.4 + 0.1, summary["arrivals"]
    log = log_path.read_text()
    assert "didn't have proper args" not in log, log[-3000:]
    assert "were not applied" not in log, log[-3000:]


def test_a_form_without_a_rate_for_an_open_model_is_refused_before_it_starts(flash_sale_ui: Any) -> None:
    import urllib.parse
    import urllib.request

    url, _, _ = flash_sale_ui
    # smoke sets no rate (a closed-model scenario): played open, the form must give one.
    form = {"user_count": "10", "spawn_rate": "10", "host": "", "scenario": "smoke", "load_model": "open", "rate": ""}
    with urllib.request.urlopen(url + "/swarm", data=urllib.parse.urlencode(form).encode(), timeout=10) as r:
        answer = orjson.loads(r.read())
    assert answer["success"] is False and "rate" in answer["message"], answer
    with urllib.request.urlopen(url + "/loadsim/stats", timeout=10) as r:
        assert orjson.loads(r.read())["state"] == "ready"
