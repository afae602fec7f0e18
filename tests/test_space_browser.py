"""The space in a real headless browser: Debian's Chromium driven by Playwright (no browser download).

Types a sequence, clicks Predict, reads the probability table from the page and checks it against the model; an
invalid character shows its one-sentence message in the page. Screenshots are saved under ``artifacts/`` as test
artifacts. Skips, saying why, where Chromium or Playwright is not installed.
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "space"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_space import DEMO_ARCHS, DEMO_TASK, free_port, train_demo_models  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--no-first-run"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    import app
    from genozoo_space import Catalogue

    hub = tmp_path_factory.mktemp("hub")
    train_demo_models(hub, archs=DEMO_ARCHS[:1])
    cat = Catalogue(hub, "cpu")
    demo = app.build_demo(cat)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                ssr_mode=False)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            pg = browser.new_page(viewport={"width": 1280, "height": 1400})
            pg.goto(demo.local_url, wait_until="networkidle")
            yield cat, pg
            browser.close()
    finally:
        demo.close()


def _model_name(cat) -> str:
    return f"{DEMO_ARCHS[0]}.{DEMO_TASK}"


def test_type_click_read(page):
    cat, pg = page
    ids, seqs = cat.examples(DEMO_TASK, n=2)
    pg.locator("#sequences textarea").fill(f">{ids[0]}\n{seqs[0]}\n>{ids[1]}\n{seqs[1]}")
    pg.locator("#predict").click()
    # Wait for the last sequence's row to be rendered, then read every cell.
    pg.wait_for_function(
        "id => { const t = document.querySelector('#probabilities'); return t && t.innerText.includes(id); }",
        arg=ids[1], timeout=60_000)
    pg.wait_for_timeout(1000)  # let the bar chart finish drawing for the screenshot
    pg.screenshot(path=str(ARTIFACTS / "space_predict.png"), full_page=True)
    rows = pg.evaluate("""() => Array.from(document.querySelectorAll('#probabilities [role=row]')).map(
        row => row.innerText.split('\\n').map(cell => cell.trim()))""")
    rows = [r for r in rows if r and r[0] in ids]
    assert [r[0] for r in rows] == ids, rows
    want = cat.predict(_model_name(cat), seqs, ids).probabilities
    got = [[float(r[2]), float(r[3])] for r in rows]
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert [r[4] for r in rows] == [["absent", "present"][int(i)] for i in want.argmax(1)]
    status = pg.locator("#status").inner_text()
    assert "2 sequence(s)" in status

    # The attribution logo of the first sequence (Predict filled the sequence picker).
    pg.locator("#explain").click()
    pg.locator("#logo img").first.wait_for(state="visible", timeout=60_000)
    pg.locator("#logo").scroll_into_view_if_needed()
    pg.wait_for_timeout(500)
    pg.screenshot(path=str(ARTIFACTS / "space_explain.png"), full_page=True)
    size = pg.evaluate("() => { const i = document.querySelector('#logo img'); return [i.naturalWidth, i.naturalHeight]; }")
    assert size[0] > 400 and size[1] > 100, size


def test_invalid_character_message(page):
    cat, pg = page
    pg.locator("#sequences textarea").fill(">bad\nACGTACGTQACGT")
    pg.locator("#predict").click()
    msg = pg.get_by_text(re.compile(r"invalid character 'Q' at position 9"))
    msg.first.wait_for(state="visible", timeout=30_000)
    pg.wait_for_timeout(700)  # the toast slides in
    pg.screenshot(path=str(ARTIFACTS / "space_error.png"))  # the viewport: the message is a toast on top
