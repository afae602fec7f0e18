"""What the space's page shows after a user changes their mind, in a real headless browser (the harness of
:mod:`test_space_browser`): an emptied picker goes back to its last choice with nothing in error; results leave
the page when the model changes, when a Predict fails, and when the Compare tab's task changes, so nothing on
screen answers a question other than the one the page now asks. Skips where Chromium or Playwright is missing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_space import DEMO_ARCHS, DEMO_TASK  # noqa: E402
from test_space_browser import ARTIFACTS, CHROMIUM, _chart, _pick, _predict_examples, page  # noqa: E402,F401

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")

# Components in Gradio's error state carry a badge reading "Error" (the toast of a failure reads "Error" too).
ERRORS = "() => [...document.querySelectorAll('body *')].filter(e => e.children.length === 0 && " \
         "e.textContent.trim() === 'Error' && e.offsetParent !== null).length"


def _clear(pg, elem_id: str) -> None:
    """What a user does to empty a picker: select its text, delete it, click elsewhere on the page."""
    pg.locator(f"#{elem_id} input").click()
    pg.keyboard.press("Control+A")
    pg.keyboard.press("Backspace")
    pg.locator("h1").first.click()


def _value(pg, elem_id: str) -> str:
    return pg.locator(f"#{elem_id} input").input_value()


def _results(pg) -> dict:
    """What the Predict tab shows of the last run: status line, table rows, bars, the sequence picker's value."""
    status = pg.locator("#status").inner_text().strip()
    rows = pg.evaluate("() => document.querySelectorAll('#probabilities tbody tr').length")
    return {"status": status, "rows": rows, "bars": _chart(pg)[1], "seq": _value(pg, "explain-seq")}


def _two_model_task(cat) -> str:
    tasks = [t for t in cat.tasks() if len(cat.models_for(t)) > 1]
    if not tasks:
        pytest.skip("needs a task with two models")
    return min(tasks, key=lambda t: cat.task_length(t) or 0)


def test_an_emptied_picker_goes_back_without_errors(page):
    cat, pg = page
    pg.reload(wait_until="networkidle")
    task0 = cat.tasks()[0]
    model0 = cat.models_for(task0)[0]
    card, method = pg.locator("#card").inner_text(), _value(pg, "method")
    _clear(pg, "task")
    pg.wait_for_function("t => document.querySelector('#task input').value === t", arg=cat.task_label(task0),
                         timeout=30_000)
    _clear(pg, "model")
    pg.wait_for_function("m => document.querySelector('#model input').value === m", arg=model0, timeout=30_000)
    pg.wait_for_timeout(1000)  # any error badge or toast would be up by now
    pg.screenshot(path=str(ARTIFACTS / "space_cleared_pickers.png"), full_page=True)
    assert pg.evaluate(ERRORS) == 0
    assert pg.locator("#card").inner_text() == card and _value(pg, "method") == method
    assert _value(pg, "model") == model0
    # The page still works with the choice it went back to.
    pg.locator("#sequences textarea").fill("ACGT" * 40)
    pg.locator("#predict").click()
    pg.wait_for_function("m => document.querySelector('#status').innerText.includes(m)", arg=f"through {model0}",
                         timeout=60_000)


def test_results_leave_on_a_model_change_and_a_failed_predict(page):
    cat, pg = page
    task = _two_model_task(cat)
    first, second = cat.models_for(task)[:2]
    pg.reload(wait_until="networkidle")
    if task != cat.tasks()[0]:
        _pick(pg, "task", cat.task_label(task))
        pg.wait_for_function("m => document.querySelector('#model input').value === m", arg=first, timeout=60_000)
    _predict_examples(pg, first)
    shown = _results(pg)
    assert shown["rows"] > 0 and shown["bars"] > 0 and shown["seq"], shown
    _pick(pg, "model", second)  # the first model's numbers must not sit beside the second model's name
    pg.wait_for_function("() => document.querySelector('#status').innerText.trim() === ''", timeout=60_000)
    pg.wait_for_timeout(500)
    assert _results(pg) == {"status": "", "rows": 0, "bars": 0, "seq": ""}
    _predict_examples(pg, second)
    assert _results(pg)["bars"] > 0
    pg.locator("#sequences textarea").fill(">bad\nACGTQ")
    pg.locator("#predict").click()
    pg.get_by_text("invalid character 'Q' at position 5").first.wait_for(state="visible", timeout=30_000)
    pg.wait_for_function("() => document.querySelector('#status').innerText.trim() === ''", timeout=30_000)
    pg.wait_for_timeout(500)
    pg.screenshot(path=str(ARTIFACTS / "space_failed_predict.png"), full_page=True)
    assert _results(pg) == {"status": "", "rows": 0, "bars": 0, "seq": ""}


def test_compare_task_switch_clears_the_table(page):
    cat, pg = page
    other = next(t for t in cat.tasks() if t != DEMO_TASK)
    pg.reload(wait_until="networkidle")
    pg.get_by_role("tab", name="Compare models").click()
    _pick(pg, "compare-task", cat.task_label(DEMO_TASK))
    pg.locator("#compare-sequences textarea").fill(">s1\n" + "ACGT" * 25)
    pg.locator("#compare").click()
    model = f"{DEMO_ARCHS[0]}.{DEMO_TASK}"
    pg.wait_for_function("m => document.querySelector('#comparison').innerText.includes(m)", arg=model,
                         timeout=60_000)
    _pick(pg, "compare-task", cat.task_label(other))
    pg.wait_for_function("m => !document.querySelector('#comparison').innerText.includes(m)", arg=model,
                         timeout=30_000)
    _clear(pg, "compare-task")  # an emptied box goes back to its task
    pg.wait_for_function("t => document.querySelector('#compare-task input').value === t",
                         arg=cat.task_label(other), timeout=30_000)
    pg.wait_for_timeout(500)
    assert pg.evaluate(ERRORS) == 0
