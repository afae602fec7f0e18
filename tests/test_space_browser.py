"""The space in a real headless browser: Debian's Chromium driven by Playwright (no browser download).

Types a sequence, clicks Predict, reads the probability table from the page and checks it against the model; an
invalid character shows its one-sentence message in the page; switching task twice and predicting gives a chart
whose bars and legend are the new task's; the task picker shows each task's input length and the method picker
only the methods the model supports. Screenshots are saved under ``artifacts/`` as test artifacts. Skips, saying
why, where Chromium or Playwright is not installed.
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
    cat = Catalogue(hub, "cpu")  # the tiny model's task and, where installed, the published ones
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


def _pick(pg, elem_id: str, label: str) -> None:
    pg.locator(f"#{elem_id} input").click()
    pg.get_by_role("option", name=label, exact=True).click()


def _chart(pg) -> tuple[list[str], int]:
    """The legend's class names and the number of bars the chart draws."""
    legend, bars = pg.evaluate("""() => { const c = document.querySelector('#chart');
        const legend = [...c.querySelectorAll('.role-legend-label text')].map(t => t.textContent);
        return [legend, c.querySelectorAll('.mark-rect path').length]; }""")
    return legend, bars


def _predict_examples(pg, model: str) -> None:
    pg.locator("#examples").click()
    pg.wait_for_function("() => document.querySelector('#sequences textarea').value.startsWith('>')",
                         timeout=30_000)
    pg.locator("#predict").click()
    pg.wait_for_function("m => document.querySelector('#status').innerText.includes(m)", arg=f"through {model}",
                         timeout=120_000)
    pg.wait_for_timeout(800)  # the chart draws after the table


def test_switch_task_twice_then_predict(page):
    cat, pg = page
    tasks = [t for t in cat.tasks() if t != DEMO_TASK]
    splice = "splice" if "splice" in tasks else None
    if splice is None or len(tasks) < 2:
        pytest.skip("needs the published models of at least two tasks, splice among them")
    other = next(t for t in tasks if t not in ("splice", "histone_h3_gue"))
    pg.reload(wait_until="networkidle")
    # The task picker names each task with its input length.
    assert pg.locator("#task input").input_value() == cat.task_label(cat.tasks()[0])
    assert re.search(r"\(\d+ bp, \d+ classes\)$", cat.task_label("splice"))
    _pick(pg, "task", cat.task_label(DEMO_TASK))
    _predict_examples(pg, _model_name(cat))
    assert sorted(_chart(pg)[0]) == ["absent", "present"]
    for task in (other, "splice"):  # switch twice; the old task's results leave the page with it
        _pick(pg, "task", cat.task_label(task))
        pg.wait_for_function("m => document.querySelector('#model input').value === m",
                             arg=cat.models_for(task)[0], timeout=60_000)
        pg.wait_for_timeout(500)
        assert _chart(pg) == ([], 0)
    model = cat.models_for("splice")[0]
    _predict_examples(pg, model)
    pg.screenshot(path=str(ARTIFACTS / "space_switch_task.png"), full_page=True)
    legend, bars = _chart(pg)
    n = len(cat.examples("splice")[0])
    assert sorted(legend) == sorted(cat.entry(model).label_names) and bars == n * len(legend), (legend, bars)
    # The method picker offers what this model supports, and its default is one that works.
    shown = pg.locator("#method input").input_value()
    from zoo.explain import METHOD_TITLES

    assert shown == METHOD_TITLES[cat.methods(model)[0]]
    bert = next((m for m in cat.models_for("splice") if m.startswith(("bert_", "doc2vec"))), None)
    if bert:
        if bert == model:  # the page opened on it: go through a model with more methods first, so the picker changes
            other_model = next(m for m in cat.models_for("splice") if cat.methods(m)[0] != "ism")
            _pick(pg, "model", other_model)
            pg.wait_for_function("t => document.querySelector('#method input').value === t",
                                 arg=METHOD_TITLES[cat.methods(other_model)[0]], timeout=60_000)
        _pick(pg, "model", bert)
        pg.wait_for_function("m => document.querySelector('#model input').value === m", arg=bert, timeout=60_000)
        pg.wait_for_function("t => document.querySelector('#method input').value === t",
                             arg=METHOD_TITLES["ism"], timeout=60_000)
        pg.keyboard.press("Escape")  # the model list closes before the method list opens
        pg.locator("#method input").click()
        pg.locator("#method").get_by_role("option").first.wait_for(timeout=60_000)
        options = pg.locator("#method").get_by_role("option").all_inner_texts()
        assert [o.replace("✓", "").strip() for o in options] == [METHOD_TITLES["ism"]], options
        pg.keyboard.press("Escape")
