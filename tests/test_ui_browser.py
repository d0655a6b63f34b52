"""The Dagster UI in a real headless browser: the asset graph shows, and a materialization launched from the UI
succeeds. Uses Debian's chromium through Playwright (no browser download); `make test` installs chromium."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "data" / "test-artifacts"
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)["data"]


@pytest.fixture
def webserver(tmp_path: Path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "FOUNDRY_DATA_DIR": str(tmp_path / "data")}
    subprocess.run([sys.executable, "-m", "assets.batches", "add", BATCH], env=env, cwd=ROOT, check=True)
    command = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-f",
        str(ROOT / "definitions.py"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=2):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "dagster-webserver did not come up"
                time.sleep(0.5)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


RUNS = "query { runsOrError(limit: 5) { ... on Runs { results { runId status tags { key value } } } } }"
BATCH = "ui-batch"


def test_ui_shows_the_graph_and_materializes_an_asset(webserver: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{webserver}/asset-groups", wait_until="networkidle")
        for group in ("problems", "generation", "curation", "grading", "publishing", "rejections"):
            page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))
        # the `problems` group: a small selection (seed and procedural problems) that needs no model
        page.goto(f"{webserver}/locations/definitions.py/asset-groups/problems", wait_until="networkidle")
        for asset in ("seed_problems", "synthetic_problems", "evolved_problems"):  # two and one downstream of them
            page.get_by_text(asset, exact=True).first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Materialize all").first.click()
        # every asset is partitioned by batch: pick the batch registered before the server started
        page.get_by_text("Select a partition or create one").first.click()
        page.get_by_text(BATCH, exact=True).first.click()
        page.screenshot(path=str(ARTIFACTS / "launch-dialog.png"))
        page.get_by_role("button", name="Launch 1 run").click()
        page.get_by_text("Launched run").first.wait_for(timeout=60_000)
        deadline = time.monotonic() + 180
        while True:
            runs = _graphql(webserver, RUNS)["runsOrError"]["results"]
            if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            assert time.monotonic() < deadline, f"the run did not finish: {runs}"
            time.sleep(1)
        assert runs[0]["status"] == "SUCCESS"
        assert {"key": "dagster/partition", "value": BATCH} in runs[0]["tags"]
        page.goto(f"{webserver}/runs/{runs[0]['runId']}", wait_until="networkidle")
        page.get_by_text("RUN_SUCCESS").first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "run.png"))
        # the metadata shows charts as images, not just tables
        page.goto(f"{webserver}/assets/synthetic_problems", wait_until="networkidle")
        row = page.locator("tr", has=page.get_by_text("per_steps", exact=True)).first
        row.get_by_text("[Show Markdown]").click()
        chart = page.locator('img[src^="data:image/png;base64,"]').first
        chart.wait_for(timeout=60_000)
        assert chart.evaluate("img => img.naturalWidth") > 100
        page.screenshot(path=str(ARTIFACTS / "asset-metadata-chart.png"))
        browser.close()
