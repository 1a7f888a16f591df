"""``loadsim ui`` in headless Chromium: fill the start form, run a chosen scenario, watch, stop, find the report.

Drives Debian's chromium through Playwright (``executable_path``; no browser download). Real
processes on loopback: ``loadsim ui`` starts the mock and Locust's web UI on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from simulator.mock.admin import admin_headers
from simulator.scenario import load_scenario
from tests.conftest import subprocess_env
from tests.integration.mock_support import start_mock

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.integration
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def web_ui(cwd: Path, *args: str) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """``loadsim ui ARGS`` run for real in ``cwd`` on a free port, its output in ``cwd/ui.log``: (the UI's
    URL, the log, the process) once the page answers; Ctrl-C at the end (as a terminal sends it), then a kill."""
    port = free_port()
    log_path = cwd / "ui.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "ui", "--web-port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=subprocess_env(),
            cwd=cwd,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: answers(url + "/") or proc.poll() is not None, 60, "the web UI")
            assert proc.poll() is None, log_path.read_text()
            yield url, log_path, proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def mock_url(log_path: Path) -> str:
    """The embedded mock's URL, as ``loadsim ui`` printed it."""
    return next(
        line.split(" at ", 1)[1].split()[0] for line in log_path.read_text().splitlines() if "mock collector at" in line
    )


#: The harness's fields of the start form: the browser posts every one, '' when empty.
HARNESS_FIELDS = (
    "target",
    "app_id",
    "seed",
    "load_model",
    "rate",
    "think_scale",
    "rate_cap",
    "report_dir",
    "webhook_url",
)


def swarm(url: str, **fields: str) -> dict[str, Any]:
    """Start a test as the browser's start form does (smoke, 1 user; every harness field, '' unless in
    ``fields``): Locust's answer."""
    form = {"user_count": "1", "spawn_rate": "1", "run_time": "", "scenario": "smoke"}
    form |= dict.fromkeys(HARNESS_FIELDS, "") | fields
    request = urllib.request.Request(url + "/swarm", data=urllib.parse.urlencode(form).encode())
    with urllib.request.urlopen(request, timeout=10) as r:
        return dict(orjson.loads(r.read()))


def loadsim_stats(url: str) -> dict[str, Any]:
    """The Harness tab's JSON (``GET /loadsim/stats``)."""
    with urllib.request.urlopen(url + "/loadsim/stats", timeout=10) as r:
        return dict(orjson.loads(r.read()))


def read_table(page: Any) -> list[dict[str, str]]:
    """The visible table's rows as {column title: cell text}."""
    return page.evaluate("""() => {
        const table = document.querySelector('table');
        if (!table) return [];
        const heads = [...table.querySelectorAll('thead th')].map(th => th.innerText.trim());
        return [...table.querySelectorAll('tbody tr')].map(tr =>
            Object.fromEntries([...tr.cells].map((td, i) => [heads[i], td.innerText.trim()])));
    }""")


def harness_rows(page: Any) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["Kind"], r["Name"]): r for r in read_table(page) if "Kind" in r}


def test_a_start_form_sent_while_a_test_runs_leaves_that_test_alone(tmp_path: Path) -> None:
    """Before: a form (ecommerce, 3 s, report folder second/) sent 2 s into a smoke test of 8 s into
    first/ was answered success and ignored by Locust ("Editing is disabled"), yet the running test
    stopped at 3 s and was reported as ecommerce in second/; first/ was never made."""
    first, second = tmp_path / "first", tmp_path / "second"
    with web_ui(tmp_path, "smoke") as (url, _, _):
        assert swarm(url, user_count="2", spawn_rate="2", run_time="8s", report_dir=str(first))["success"]
        wait_for(lambda: loadsim_stats(url)["state"] in ("spawning", "running"), 20, "the test to start")
        answer = swarm(url, scenario="ecommerce", user_count="4", run_time="3s", report_dir=str(second))
        assert not answer["success"] and "a test is running" in answer["message"], answer
        wait_for(lambda: (first / "summary.json").is_file(), 60, "the first test's report")
    summary = orjson.loads((first / "summary.json").read_bytes())
    assert summary["scenario"] == "smoke" and summary["timing"]["planned_s"] == 8, summary["timing"]
    assert not second.exists()


def test_a_web_ui_test_an_slo_aborted_is_failed_and_the_next_test_is_not_aborted(tmp_path: Path) -> None:
    """Before (c33eb72's parent): the aborted test was also reported "interrupted after 5 s of 60 s
    planned, figures partial", and every later test of the session "stopped early by slo.abort_on_fail"."""
    strict = tmp_path / "strict.toml"
    strict.write_text(
        'extends = "smoke"\n[slo]\nabort_on_fail = true\ngrace = "2s"\n'
        "[[slo.latency]]\npercentile = 50\nmax_ms = 0.001\n"
    )
    first, second = tmp_path / "first", tmp_path / "second"
    with web_ui(tmp_path, str(strict)) as (url, _, _):
        assert swarm(url, scenario=str(strict), user_count="2", spawn_rate="2", run_time="60s", report_dir=str(first))[
            "success"
        ]
        wait_for(lambda: (first / "summary.json").is_file(), 60, "the aborted test's report")
        wait_for(lambda: loadsim_stats(url)["state"] in ("stopped", "ready"), 30, "the test to stop")
        assert swarm(url, scenario="smoke", user_count="2", spawn_rate="2", run_time="3s", report_dir=str(second))[
            "success"
        ]
        wait_for(lambda: (second / "summary.json").is_file(), 60, "the second test's report")
    aborted = orjson.loads((first / "summary.json").read_bytes())
    assert aborted["result"] == "FAILED" and not aborted["interrupted"], aborted["reason"]
    assert aborted["reason"].startswith("stopped early by slo.abort_on_fail"), aborted["reason"]
    assert "abort_on_fail" not in orjson.loads((second / "summary.json").read_bytes())["reason"]


@pytest.fixture
def ui(tmp_path: Path) -> Any:
    report = tmp_path / "report"
    with web_ui(tmp_path, "smoke", "--report-dir", str(report)) as (url, _, proc):
        yield url, report, proc


@needs_chromium
def test_web_ui_runs_the_chosen_scenario_shows_the_harness_tab_and_writes_the_report(ui: Any) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    url, report, proc = ui
    page_errors: list[str] = []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
            page.goto(url + "/")

            # The harness's options are in the start form: choose a scenario other than the preselected one.
            page.get_by_text("Custom parameters").click()
            options = page.eval_on_selector_all("select[name=scenario] option", "os => os.map(o => o.value)")
            assert {"smoke", "bad-clients", "ecommerce"} <= set(options)
            page.select_option("select[name=scenario]", "bad-clients")
            page.fill("input[name=seed]", "5")
            page.fill("input[name=thinkScale]", "0.05")
            page.get_by_role("button", name="Start").click()

            # Locust's statistics: a row per request name, covering the three endpoints.
            def locust_names() -> set[str]:
                return {r.get("Name", "") for r in read_table(page)}

            names = wait_for(
                lambda: (
                    (n := locust_names()) >= {"externalIds", "identify"}
                    and any(x.startswith("event:") for x in n)
                    and n
                ),
                40,
                "rows for the three endpoints",
            )
            assert "Aggregated" in names

            # The harness tab: its own percentiles per endpoint and step, funnel, drops, reconciliation.
            page.get_by_role("tab", name="Harness").click()
            first = wait_for(
                lambda: (r := harness_rows(page)) and ("endpoint", "events") in r and r, 20, "the Harness tab's rows"
            )
            for endpoint in ("externalIds", "identify", "events"):
                assert ("endpoint", endpoint) in first and ("reconciliation", endpoint) in first
            assert ("funnel", "sessions") in first and ("arrivals", "dropped arrivals") in first
            assert any(kind == "step" and name.startswith("event:") for kind, name in first)
            start_count = int(first[("total", "total")]["Count"])
            second = wait_for(
                lambda: (r := harness_rows(page)) and int(r[("total", "total")]["Count"]) > start_count and r,
                20,
                "the Harness tab's numbers to move",
            )
            total = second[("total", "total")]
            assert float(total["p99 ms"]) >= float(total["p50 ms"]) > 0
            assert int(second[("funnel", "sessions")]["Count"]) > 0
            # bad-clients sends malformed bodies on purpose: they show as expected 400s, never failures.
            wait_for(
                lambda: int(harness_rows(page)[("total", "total")]["Expected 400s"]) > 0,
                30,
                "expected rejections from the faulty SDKs",
            )
            assert harness_rows(page)[("total", "total")]["Failures"] == "0"

            page.get_by_role("button", name="Stop").click()
            summary_file = report / "summary.json"
            wait_for(summary_file.is_file, 30, "the report after Stop")
            verdict = wait_for(
                lambda: (
                    (r := harness_rows(page).get(("reconciliation", "verdict")))
                    and not r["Detail"].startswith("running")
                    and r["Detail"]
                ),
                20,
                "the reconciliation verdict after Stop",
            )
            assert verdict == "OK", verdict
        finally:
            browser.close()

    assert not page_errors, page_errors
    # The files a headless run writes: the harness's and Locust's own.
    for name in ("summary.json", "summary.md", "junit.xml", "stats.json", "locust.html", "locust_stats.csv"):
        wait_for((report / name).is_file, 10, name)
    assert "externalIds" in (report / "locust_stats.csv").read_text()
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["scenario"] == "bad-clients" and summary["seed"] == 5  # the form's choices, not smoke's
    assert set(summary["endpoints"]) == {"externalIds", "identify", "events"}
    assert summary["total"]["expected_rejections"] > 0 and summary["total"]["failures"] == 0
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    assert summary["workers"] == 1
    assert proc.poll() is None  # the UI stays up for the next test


def test_the_start_form_refuses_bad_harness_values(ui: Any) -> None:
    url, _, _ = ui

    def swarm(**fields: str) -> dict[str, Any]:
        data = urllib.parse.urlencode({"user_count": "0", "spawn_rate": "0", "host": "", **fields}).encode()
        with urllib.request.urlopen(urllib.request.Request(url + "/swarm", data=data), timeout=10) as r:
            return dict(orjson.loads(r.read()))

    answer = swarm(scenario="smoke", seed="five")
    assert answer["success"] is False and "seed" in answer["message"] and "five" in answer["message"]
    answer = swarm(scenario="no-such-scenario.toml")
    assert answer["success"] is False and "no-such-scenario" in answer["message"]
    # An emptied host field would start users with no base URL, which die of it one by one.
    answer = swarm(scenario="smoke", user_count="1", spawn_rate="1")
    assert answer["success"] is False and "host" in answer["message"] and "http://127.0.0.1:" in answer["message"]
    with urllib.request.urlopen(url + "/loadsim/stats", timeout=10) as r:
        assert orjson.loads(r.read())["state"] == "ready"  # nothing started


def test_a_form_for_the_real_target_is_refused_and_the_ui_stays_up(ui: Any) -> None:
    """Before: /swarm said success, then the test's start found no --confirm-real-target and
    exited the whole UI (exit 2)."""
    url, report, proc = ui
    answer = swarm(url, host=mock_url(report.parent / "ui.log"), target="customerlabs")
    assert answer["success"] is False, answer
    assert "--confirm-real-target" in answer["message"] and "\n" not in answer["message"], answer
    assert loadsim_stats(url)["state"] == "ready"  # nothing started, and the UI still answers
    assert proc.poll() is None


def test_an_emptied_number_field_means_the_scenarios_in_every_later_test(ui: Any) -> None:
    """Before: once a test ran with a seed (think scale, rate, rate cap), a later form that cleared
    the field got a 500 ("invalid literal for int() with base 10: ''") and half its fields applied."""
    url, report, _ = ui
    host = mock_url(report.parent / "ui.log")
    numbers = {"seed": "7", "think_scale": "0.05", "rate": "5", "rate_cap": "50"}

    def read_summary() -> dict[str, Any] | None:
        """The stopped test's report, where the tab says it is (the form's empty report dir: its own folder)."""
        where = [r["detail"] for r in loadsim_stats(url)["rows"] if r["kind"] == "report"]
        return dict(orjson.loads((Path(where[0]) / "summary.json").read_bytes())) if where else None

    def stop() -> None:
        urllib.request.urlopen(urllib.request.Request(url + "/stop", method="POST"), timeout=10).close()
        wait_for(lambda: loadsim_stats(url)["state"] == "stopped", 30, "the test to stop")

    assert swarm(url, host=host, **numbers)["success"]
    stop()
    for name in numbers:  # each field cleared in turn, the others set again
        answer = swarm(url, host=host, scenario="bad-clients", **(numbers | {name: ""}))
        assert answer["success"], (name, answer)
        assert loadsim_stats(url)["scenario"] == "bad-clients", name
        stop()
        summary = wait_for(lambda: (s := read_summary()) and s["scenario"] == "bad-clients" and s, 30, "the report")
        assert summary["seed"] == (7 if name != "seed" else load_scenario("bad-clients").seed), name
        assert swarm(url, host=host, **numbers)["success"], name
        stop()


#: Start forms the command line refuses (as its flags), and what the refusal says.
REFUSED_FORMS = (
    ({"user_count": "-1"}, "users must be at least 1"),
    ({"user_count": "0"}, "users must be at least 1"),
    ({"spawn_rate": "0"}, "Ramp up"),
    ({"spawn_rate": "-1"}, "Ramp up"),
    ({"run_time": "0s"}, "a run lasts at least 1s"),
    ({"report_dir": "/proc/nope"}, "/proc/nope: cannot write a report there"),
    ({"load_model": "bogus"}, "'bogus'"),
    ({"target": "bogus"}, "'bogus'"),
)


def test_the_form_refuses_what_the_command_line_refuses_before_anything_starts(ui: Any) -> None:
    """Before: each of these ran (users -1 or spawn rate 0 crashed a greenlet; 0 users passed; run
    time 0s ran the scenario's 30 s; an unwritable report folder lost the report; load model and
    target "bogus" ran as such)."""
    url, report, proc = ui
    host = mock_url(report.parent / "ui.log")
    for fields, says in REFUSED_FORMS:
        answer = swarm(url, host=host, **fields)
        assert answer["success"] is False and says in answer["message"], (fields, answer)
        assert "\n" not in answer["message"], answer
        assert loadsim_stats(url)["state"] == "ready", fields  # nothing started
    assert proc.poll() is None


#: Start forms refused by the command line's own checks, and the form's field each refusal names.
FIELD_REFUSALS = (
    ({"user_count": "0"}, "Number of users must be at least 1, got 0"),
    ({"run_time": "0s"}, "Run time '0s': a run lasts at least 1s"),
    ({"run_time": "soon"}, "Run time 'soon': "),
    ({"report_dir": "/proc/nope"}, "Report Dir /proc/nope: cannot write a report there"),
    ({"spawn_rate": "0"}, "Ramp up (users started/second) must be above 0, got 0"),
)


def test_a_refused_form_names_the_forms_field_not_the_command_lines_flag(ui: Any) -> None:
    """Before: "--users must be at least 1, got 0", "--run-time '0s': ...", "--report-dir /proc/nope:
    ...": flags of a command line the user of the page never typed; and "spawn rate" for the field
    Locust's form labels "Ramp up"."""
    url, report, _ = ui
    host = mock_url(report.parent / "ui.log")
    for fields, says in FIELD_REFUSALS:
        answer = swarm(url, host=host, **fields)
        assert answer["success"] is False and answer["message"].startswith(says), (fields, answer)
        assert "--" not in answer["message"], answer
    assert loadsim_stats(url)["state"] == "ready"  # nothing started


@contextlib.contextmanager
def stand_in_webhook() -> Iterator[tuple[str, Callable[[], int]]]:
    """A second mock on loopback in the place of a real CustomerLabs source's events webhook (real
    endpoints never get a test's traffic): (its webhook URL, how many requests it has had)."""
    proc, base = start_mock("--host", "127.0.0.1", "--store", ":memory:")

    def received() -> int:
        request = urllib.request.Request(base + "/_admin/stats", headers=admin_headers())
        with urllib.request.urlopen(request, timeout=5) as r:
            return int(orjson.loads(r.read())["requests"])

    try:
        yield base + "/webhook/real-source", received
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_test_against_the_mock_sends_its_events_to_the_mock_whatever_the_webhook_field(tmp_path: Path) -> None:
    """Before: in a UI given a webhook URL (which the page's secret field then posts with every form),
    a test against the mock sent externalIds and identify to the mock and its events to the webhook."""
    report = tmp_path / "report"
    with stand_in_webhook() as (webhook, received):
        with web_ui(tmp_path, "smoke", "--", "--webhook-url", webhook) as (url, log_path, _):
            form = {"run_time": "3s", "report_dir": str(report), "webhook_url": webhook}
            assert swarm(url, host=mock_url(log_path), **form)["success"]
            wait_for(lambda: (report / "summary.json").is_file(), 60, "the test's report")
        assert received() == 0
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["target"]["kind"] == "mock" and summary["target"]["events"] == "/webhook/loadsim", summary["target"]
    assert summary["endpoints"]["events"]["count"] > 0 and summary["reconciliation"]["ok"], summary["reconciliation"]


def test_a_form_whose_host_is_not_its_targets_is_refused(tmp_path: Path) -> None:
    """Before: in a UI started with the real target's safeguards (--confirm-real-target, --rate-cap,
    --webhook-url) and the mock as its host, a form choosing target customerlabs started a test that
    sent externalIds and identify to the mock and its events to the real webhook; one choosing the
    mock on CustomerLabs' host started too."""
    with stand_in_webhook() as (webhook, received):
        real = ("--confirm-real-target", "--rate-cap", "50", "--webhook-url", webhook)
        with web_ui(tmp_path, "smoke", "--", *real) as (url, log_path, proc):
            mock = mock_url(log_path)
            # As the page posts it: its fields filled with the options the UI was started with.
            form = {"run_time": "3s", "report_dir": str(tmp_path / "report"), "webhook_url": webhook, "rate_cap": "50"}
            answer = swarm(url, host=mock, target="customerlabs", **form)
            assert answer["success"] is False, answer
            assert "customerlabs" in answer["message"] and mock in answer["message"], answer
            assert "\n" not in answer["message"], answer
            # The reverse: the mock as the target of a host that is CustomerLabs' would send it everything.
            # (A .invalid name never resolves, RFC 6761: nothing could leave the machine whatever the code.)
            answer = swarm(url, host="https://api.customerlabs.invalid", **form)
            assert answer["success"] is False and answer["message"].startswith("target mock: "), answer
            time.sleep(1)  # a test started regardless would have sent by now
            assert loadsim_stats(url)["state"] == "ready" and proc.poll() is None
        assert received() == 0


def test_a_form_whose_scenario_starts_on_a_day_with_no_devices_is_refused(tmp_path: Path) -> None:
    """Before: the UI checked its own scenario's first day as it started, not a form's (each start
    loads the form's file again): the test started and every user died of NoDevicesOn."""
    old = tmp_path / "old.toml"
    old.write_text('extends = "smoke"\nname = "old"\n[time]\nstart = "2019-01-01"\n')
    with web_ui(tmp_path, "smoke") as (url, _, proc):
        answer = swarm(url, scenario=str(old), run_time="3s", report_dir=str(tmp_path / "report"))
        assert answer["success"] is False and "time.start" in answer["message"], answer
        time.sleep(1)  # a test started regardless would be running by now
        assert loadsim_stats(url)["state"] == "ready" and proc.poll() is None


def test_ui_with_a_bad_scenario_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "smoke"\n[load]\nusres = 3\n')
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "ui", str(bad), "--web-port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "load.usres" in proc.stderr and "users" in proc.stderr
    assert not (tmp_path / "reports").exists()  # no mock was started


@pytest.mark.parametrize("where", ["flag", "locust.conf"])
def test_ui_asked_for_one_endpoint_starts_nothing_and_says_where_that_runs(tmp_path: Path, where: str) -> None:
    """Before: the mock and the UI started, and every test of the session played the journeys: the
    endpoint locustfile runs headless only, and ``--endpoint identify`` was silently ignored."""
    args = ["--", "--endpoint", "identify"] if where == "flag" else []
    if where == "locust.conf":
        (tmp_path / "locust.conf").write_text("endpoint = identify\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "ui", "smoke", "--web-port", str(free_port()), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        # Ctrl-C, as web_ui ends a UI: it stops its mock and Locust (each in a session of its own,
        # which a kill of the UI alone would leave running).
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        pytest.fail("the web UI started, and would play the journeys")
    asked = "--endpoint identify" if where == "flag" else "endpoint = identify in Locust's settings"
    assert proc.returncode == 2, out + err
    assert asked in err and "loadsim run smoke --endpoint identify" in err, err
    assert "Traceback" not in err and not (tmp_path / "reports").exists()  # no mock was started


def test_ui_on_a_web_port_in_use_starts_nothing(tmp_path: Path) -> None:
    """Before: the mock started and reports/...-ui-smoke/ was made, "web UI at" was printed, then
    gevent's traceback "OSError: [Errno 98] Address already in use"."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = subprocess.run(
            [sys.executable, "-m", "simulator", "ui", "--web-port", port, "smoke"],
            capture_output=True,
            text=True,
            timeout=60,
            env=subprocess_env(),
            cwd=tmp_path,
        )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and f"--web-port {port}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "web UI at" not in proc.stdout
    assert not (tmp_path / "reports").exists()  # no mock was started


def worker_count(url: str) -> int:
    """The workers Locust's master counts as connected (``GET /worker-count``: not the missing)."""
    with urllib.request.urlopen(url + "/worker-count", timeout=10) as r:
        return int(orjson.loads(r.read())["worker_count"])


def locust_workers(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The worker processes ``--processes`` forked: children of the master with its own command line."""
    family = psutil.Process(proc.pid).children(recursive=True)
    return [p for p in family if p.parent() in family and p.cmdline() == p.parent().cmdline()]


def test_a_start_form_with_fewer_workers_than_processes_asked_for_is_refused(tmp_path: Path) -> None:
    """``-- --processes 2`` with one worker connected (the other not yet, or gone): the form is refused,
    saying how many of the 2 are in, until both are. Before: it started, on one worker (its report
    said workers 1), whenever a start came after the first worker's connection and before the second's."""
    with web_ui(tmp_path, "smoke", "--", "--processes", "2") as (url, log_path, proc):
        wait_for(lambda: worker_count(url) == 2, 60, "both workers")
        workers = locust_workers(proc)
        assert len(workers) == 2, workers
        workers[0].suspend()  # it sends no heartbeat: the master counts it missing within seconds
        try:
            wait_for(lambda: worker_count(url) == 1, 30, "the master to miss a worker")
            answer = swarm(url, host=mock_url(log_path))
            assert not answer["success"] and "1 of 2 workers" in answer["message"], answer
            assert len(answer["message"].splitlines()) == 1, answer
            assert loadsim_stats(url)["state"] == "ready"  # nothing started
        finally:
            workers[0].resume()
        wait_for(lambda: worker_count(url) == 2, 30, "the worker back")
        assert swarm(url, host=mock_url(log_path))["success"]


def test_a_worker_missing_at_the_start_gets_no_shard_and_is_not_reported_lost(tmp_path: Path) -> None:
    """Plain Locust's web UI master (``--expect-workers`` 1) with two workers, one of them missing (no
    heartbeat) when the test starts. Before: the harness counted every worker Locust still listed,
    so the missing one was given a shard nobody played (half the devices) and the report failed it
    as "lost mid-test" though it was gone before the test began."""
    from simulator.loadtest.runner import locustfile

    mock, mock_at = start_mock("--store", ":memory:")
    port, web, report = free_port(), free_port(), tmp_path / "report"
    locust = [sys.executable, "-m", "locust", "-f", str(locustfile())]
    common = {"env": subprocess_env(), "cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    master = subprocess.Popen(
        [*locust, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--web-host", "127.0.0.1", "--web-port", str(web), "--host", mock_at, "--scenario", "smoke",
         "--report-dir", str(report)],
        **common,
    )  # fmt: skip
    workers = [
        subprocess.Popen([*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)], **common)
        for _ in range(2)
    ]
    url = f"http://127.0.0.1:{web}"
    gone = psutil.Process(workers[0].pid)
    try:
        wait_for(lambda: answers(url), 60, "the web UI")
        wait_for(lambda: worker_count(url) == 2, 60, "both workers")
        gone.suspend()  # no heartbeat: the master counts it missing within seconds, and still lists it
        wait_for(lambda: worker_count(url) == 1, 30, "the master to miss a worker")
        form = {"user_count": "2", "spawn_rate": "2", "run_time": "4s", "host": mock_at}
        request = urllib.request.Request(url + "/swarm", data=urllib.parse.urlencode(form).encode())
        with urllib.request.urlopen(request, timeout=10) as r:
            assert orjson.loads(r.read())["success"]
        wait_for(lambda: (report / "summary.json").is_file(), 60, "the test's report")
    finally:
        gone.resume()
        for p in (master, *workers):
            p.kill()
            p.wait()
        mock.kill()
        mock.wait()
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["workers"] == 1, summary["workers"]
    assert not [v for v in summary["slo"] if "worker" in v["name"]], summary["slo"]


def test_ctrl_c_in_the_web_ui_with_processes_writes_a_report_that_reconciles(tmp_path: Path) -> None:
    """A test running in the UI on two worker processes, then Ctrl-C: the report holds the workers'
    last figures (their test_stop can reach the master before them) and reconciles."""
    report = tmp_path / "report"
    with web_ui(tmp_path, "smoke", "--report-dir", str(report), "--", "--processes", "2") as (url, log_path, proc):
        form = urllib.parse.urlencode({"user_count": 4, "spawn_rate": 4, "host": mock_url(log_path)}).encode()
        # Started once both are in, as the form now requires (a start before is refused: test above).
        wait_for(lambda: worker_count(url) == 2, 60, "both workers")
        with urllib.request.urlopen(url + "/swarm", data=form, timeout=10) as r:
            answer = orjson.loads(r.read())
        assert answer["success"], answer
        time.sleep(6)  # both workers send for a while
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        proc.wait(60)
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["workers"] == 2 and summary["total"]["count"] > 0, log_path.read_text()[-3000:]
    assert summary["reconciliation"]["ok"], summary["reconciliation"]


#: What a headless ``loadsim run`` writes beside its report: Locust's page and its CSV files.
LOCUST_FILES = ("locust.html", "locust_stats.csv", "locust_failures.csv", "locust_exceptions.csv")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_web_ui_test_stopped_by_a_signal_has_locusts_files_beside_its_report(tmp_path: Path, sig: int) -> None:
    """Before: SIGTERM or Ctrl-C to the UI mid-test wrote the INTERRUPTED report with neither
    locust.html nor the locust_*.csv files a headless run writes beside it."""
    report = tmp_path / "report"
    with web_ui(tmp_path, "smoke", "--report-dir", str(report)) as (url, log_path, proc):
        form = {"user_count": "2", "spawn_rate": "2", "run_time": "60s", "report_dir": str(report)}
        assert swarm(url, host=mock_url(log_path), **form)["success"]
        wait_for(lambda: any(r["count"] for r in loadsim_stats(url)["rows"] if r["kind"] == "total"), 30, "requests")
        os.killpg(proc.pid, sig)
        proc.wait(60)
    said = log_path.read_text()
    assert "stopping; writing the report of what was sent" in said, said[-2000:]
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["result"] == "INTERRUPTED", summary["reason"]
    missing = [name for name in LOCUST_FILES if not (report / name).is_file()]
    assert not missing, f"{missing} not in {sorted(p.name for p in report.iterdir())}: {said[-2000:]}"
    assert "externalIds" in (report / "locust_stats.csv").read_text()
    # Locust keeps no per-second history in its web UI (only with --csv, headless): the report says so.
    assert any("locust_stats_history.csv" in w for w in summary["warnings"]), summary["warnings"]
    assert "locust_stats_history.csv" in (report / "summary.md").read_text()


@pytest.mark.parametrize(("sig", "tests"), [(signal.SIGTERM, 0), (signal.SIGINT, 0), (signal.SIGTERM, 1)])
def test_an_idle_web_ui_told_to_quit_says_it_has_no_test_to_report(tmp_path: Path, sig: int, tests: int) -> None:
    """Before: a UI with no test running (none started, or one stopped and reported) said "stopping;
    writing the report of what was sent" when told to quit, and wrote nothing."""
    report = tmp_path / "report"
    with web_ui(tmp_path, "smoke") as (url, log_path, proc):
        for _ in range(tests):
            assert swarm(url, host=mock_url(log_path), run_time="2s", report_dir=str(report))["success"]
            wait_for(lambda: (report / "summary.json").is_file(), 30, "the test's report")
            wait_for(lambda: loadsim_stats(url)["state"] == "stopped", 30, "the test to stop")
        reports = sorted(tmp_path.rglob("summary.json"))
        os.killpg(proc.pid, sig)
        proc.wait(60)
    said = log_path.read_text()
    assert "writing the report" not in said and "no test running, nothing to report" in said, said[-2000:]
    assert sorted(tmp_path.rglob("summary.json")) == reports  # and nothing is


def test_the_tabs_slo_rows_read_as_the_command_lines_report(ui: Any) -> None:
    """Before: the tab's SLO rows showed the summary's raw values ("actual True, threshold True",
    "actual 0.0 %") where summary.md, which the command line prints, says "yes" and "0%"."""
    url, report, _ = ui
    assert swarm(url, host=mock_url(report.parent / "ui.log"), run_time="2s", report_dir=str(report))["success"]
    wait_for(lambda: any(r["kind"] == "report" for r in loadsim_stats(url)["rows"]), 30, "the report in the tab")
    tab = {r["label"]: r for r in loadsim_stats(url)["rows"] if r["kind"] == "slo"}
    md = (report / "summary.md").read_text()
    table = md[md.index("| SLO | threshold | actual | verdict |") :].split("\n\n", 1)[0].splitlines()[2:]
    cli = {
        name: (threshold, actual, verdict)
        for name, threshold, actual, verdict in (
            [cell.strip() for cell in line.strip("|").split(" | ")] for line in table
        )
    }
    assert set(tab) == set(cli) and "reconciliation: nothing lost or duplicated" in cli, (tab, cli)
    for name, (threshold, actual, verdict) in cli.items():
        assert tab[name]["count"] == verdict.strip("*"), (name, tab[name], cli[name])
        assert tab[name]["detail"] == f"actual {actual}, threshold {threshold}", (name, tab[name], cli[name])


def test_the_first_stats_answer_after_a_stop_carries_the_verdict_and_the_report(ui: Any) -> None:
    """Locust's page polls ``/stats/requests`` only while the test spawns or runs: the first answer
    that says otherwise is the last the Harness tab ever shows. It must hold the verdict and the
    report's path, however long the report takes. A store locked by another process keeps the
    mock's last rows pending, so reconciliation waits for them and the report takes seconds: the
    answers in that time used to say "stopped" with no verdict, and the tab never showed it."""
    import sqlite3

    url, report, _ = ui
    form = {"user_count": "2", "spawn_rate": "2", "run_time": "3s", "thinkScale": "0.05"}
    with urllib.request.urlopen(url + "/swarm", data=urllib.parse.urlencode(form).encode(), timeout=10) as r:
        assert orjson.loads(r.read())["success"]

    def poll() -> dict[str, Any]:
        with urllib.request.urlopen(url + "/stats/requests", timeout=60) as r:
            return dict(orjson.loads(r.read()))

    wait_for(lambda: poll()["user_count"] > 0, 20, "the test to start")
    lock = sqlite3.connect(report / "mock.sqlite3", timeout=5, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # the mock's rows wait, so reconciliation waits for them
        deadline = time.monotonic() + 60
        while (answer := poll())["state"] in ("spawning", "running") and time.monotonic() < deadline:
            time.sleep(0.05)  # faster than a page asks (every 2 s), so any gap is seen
    finally:
        lock.close()
    rows = {(r["kind"], r["label"]): r for tab in answer["extended_stats"] for r in tab["data"]}
    assert ("report", "report") in rows, f"state {answer['state']}: {rows.get(('verdict', 'result'))}"
    assert rows[("report", "report")]["detail"] == str(report.resolve())
    assert rows[("verdict", "result")]["count"] in ("PASSED", "FAILED"), rows[("verdict", "result")]


def test_the_web_ui_plays_the_scenarios_outage_from_the_first_request(tmp_path: Path) -> None:
    """Before: ``loadsim ui`` started the mock with the scenario's freeze but never played its outage,
    and said nothing: a test started in the page met a collector that was always up."""
    scenario = tmp_path / "down.toml"
    scenario.write_text('extends = "smoke"\n[target.mock]\noutage_at = "1s"\noutage_for = "60s"\noutage_status = 503\n')
    with web_ui(tmp_path, str(scenario)) as (url, log_path, _):
        mock = mock_url(log_path)
        time.sleep(2)  # longer than outage_at: the window counts from the first request, not the start
        form = urllib.parse.urlencode({"user_count": 2, "spawn_rate": 2, "thinkScale": "0.05"}).encode()
        with urllib.request.urlopen(url + "/swarm", data=form, timeout=10) as r:
            assert orjson.loads(r.read())["success"]

        def errors() -> int:
            request = urllib.request.Request(mock + "/_admin/stats", headers=admin_headers())
            with urllib.request.urlopen(request, timeout=5) as r:
                return int(orjson.loads(r.read())["faults"].get("errors", 0))

        wait_for(lambda: errors() > 0, 20, f"the outage's 503s: {log_path.read_text()[-2000:]}")
        said = log_path.read_text()
        assert "outage (503) plays once, 1 s after the session's first request" in said, said
        assert "outage: the mock answers 503 for 60 s" in said, said
