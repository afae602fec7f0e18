"""The genozoo Gradio space: pick a task and a published baseline, paste or upload DNA, get class probabilities,
a bar chart and an attribution logo; compare every published model of a task on the same input.

Laid out as a Hugging Face Space (``README.md`` front matter, ``requirements.txt``); ``python space/app.py`` or
``genozoo space`` runs it locally. The work (catalogue, limits, parsing through :mod:`zoo.io`, batched prediction)
lives in :mod:`genozoo_space`; this module only builds the page and wires the events. Every event takes what it
needs as explicit inputs (a model by its name, a task by its name), so the API answers the same whatever the page
shows, and every failure reaches the user as one sentence. Nothing here phones home: analytics are off and, unless
the caller asks for the Hub, the models load offline from the bundled ``hub/``.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import re
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Gradio's queue rebuilds a pandas summary of its last GRADIO_ANALYTICS_MAX_EVENTS (10,000) events after every
# event, holding the GIL: 3-7 ms a request at first, 22 ms once 10,000 requests were served, so the space slowed
# down the longer it ran. The summary only feeds Gradio's monitoring page, which the space does not offer:
# recompute it once per 1,000 events, over at most the last 1,000 (read when the queue is made).
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import zoo  # noqa: F401
except ImportError:  # a checkout run without `pip install -e .`: use the package beside this folder
    sys.path.insert(0, str(HERE.parent))

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from genozoo_space import Catalogue, Limits, freeze_startup_heap, padding_note, parse_sequences  # noqa: E402
from space_input import parse_input  # noqa: E402
from zoo.errors import UserError  # noqa: E402

__all__ = ["build_demo", "launch"]

log = logging.getLogger("genozoo.space")
#: Pasted text up to this many characters is parsed on the event loop (about a millisecond); longer, on a thread.
INLINE_TEXT = 100_000
_PATH = re.compile(r"(?<![\w.])(?:/[^\s'\"/]+)+/([^\s'\"/]+)")


def _sentence(message: str) -> str:
    # The last guard against a server path in a message: an absolute path becomes its file name.
    return _PATH.sub(r"\1", message.strip())


def _user_errors(fn):
    """Run an event; a user's mistake becomes one sentence in the page (and the API's error), with no traceback
    in the log. Anything else is a bug: its traceback goes to the log and the user gets one plain sentence.
    ``fn`` may be a coroutine function (the wrapper then is one too, so Gradio runs it on its event loop)."""
    def translate(e: Exception) -> gr.Error:
        if isinstance(e, gr.Error):
            return e
        if isinstance(e, UserError):
            return gr.Error(_sentence(str(e)), print_exception=False)
        log.exception("the space failed on a request")
        return gr.Error("the space failed on this request (an internal error, now in the server log); please "
                        "try again or report it", print_exception=False)

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def awrapper(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as e:
                err = translate(e)
            raise err from None
        return awrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            err = translate(e)
        raise err from None
    return wrapper


def _explain_available() -> bool:
    try:
        import zoo.explain  # noqa: F401
    except ImportError:
        return False
    return True


def build_demo(catalogue: Catalogue | None = None, *, concurrency: int = 32, max_queue: int = 64) -> gr.Blocks:
    """The page and its events. Up to ``concurrency`` predictions are in flight at once (their forward passes
    are batched together), explanations run one at a time, and at most ``max_queue`` requests wait."""
    from zoo.explain import METHOD_TITLES

    cat = catalogue or Catalogue()
    lim = cat.limits
    tasks = cat.tasks()
    task0 = tasks[0]
    model0 = cat.models_for(task0)[0]
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
    task_choices = [(cat.task_label(t), t) for t in tasks]

    def method_update(name: str):
        methods = cat.methods(name)
        return gr.update(choices=[(METHOD_TITLES[m], m) for m in methods], value=methods[0])

    def empty_results():
        # Results of another task or model must not stay on the page beside the new choice.
        return ("", None, None, gr.update(choices=[], value=None), None, "")

    def unchanged(n: int) -> tuple:
        return tuple(gr.update() for _ in range(n))

    # The pickers take typed text (a model of a freshly trained folder may be typed in), so an emptied box sends ''
    # when it loses the focus: that is no choice. The box gets back the last real choice (kept in the page), and
    # its echo, the same choice again, changes nothing, so nothing on the page goes into an error.
    def refused(choice: str | None, check) -> bool:
        """Whether ``choice`` is no choice the box offers; a typed name that is none gets its sentence as a
        warning (the box then goes back, so nothing is in error)."""
        if choice and str(choice).strip():
            try:
                check(choice)
            except UserError as e:
                gr.Warning(_sentence(str(e)))
                return True
            return False
        return True

    @_user_errors
    def on_task(choice: str, last: str):
        if refused(choice, cat.check_task):
            return (gr.update(value=last), *unchanged(10))
        if choice == last:
            return unchanged(11)
        names = cat.models_for(choice)
        return (gr.update(), choice, gr.update(choices=names, value=names[0]), cat.entry(names[0]).summary(),
                method_update(names[0]), *empty_results())

    @_user_errors
    def on_model(name: str, last: str):
        if refused(name, cat.entry):
            return (gr.update(value=last), *unchanged(9))
        if name == last:
            return unchanged(10)
        return (gr.update(), name, cat.entry(name).summary(), method_update(name), *empty_results())

    @_user_errors
    def on_compare_task(choice: str, last: str):
        if refused(choice, cat.check_task):
            return gr.update(value=last), gr.update(), gr.update()
        if choice == last:
            return unchanged(3)
        return gr.update(), choice, None  # the other task's comparison leaves with it

    @_user_errors
    def examples(task: str) -> str:
        ids, seqs = cat.examples(task)
        return "\n".join(f">{i}\n{s}" for i, s in zip(ids, seqs))

    @_user_errors
    async def predict(model: str, text: str, upload: str | None):
        # On Gradio's event loop, not a worker thread: a pasted request is parsed and encoded here and awaits its
        # share of a batched forward pass (no thread hand-off and no thread held per waiting request, which cost
        # more CPU than the parsing). An upload, or a long paste, is read on a worker thread instead, so one big
        # request does not stall everyone else's.
        entry = cat.entry(model)
        if isinstance(upload, dict):  # the event skips Gradio's preprocessing: an upload comes as its FileData
            upload = upload.get("path")
        if upload or len(text or "") > INLINE_TEXT:
            ids, seqs, renamed = await asyncio.to_thread(parse_input, text, upload, lim)
        else:
            ids, seqs, renamed = parse_input(text, upload, lim)
        pred = await cat.apredict(entry.name, seqs, ids)
        probs, labels = pred.probabilities, pred.label_names
        L = pred.lengths.length
        notes = [padding_note(s, L) for s in seqs]
        # Plain rows rather than a DataFrame: building one column by column costs more than the forward pass.
        rounded = probs.astype(float).round(4).tolist()
        predicted = [labels[int(i)] for i in probs.argmax(axis=1)]
        table = {"headers": ["id", "length", *[f"p({c})" for c in labels], "predicted", "note"],
                 "data": [[i, len(s), *p, c, n] for i, s, p, c, n in zip(ids, seqs, rounded, predicted, notes)],
                 "metadata": None}
        status = f"{len(seqs)} sequence(s) through `{entry.name}` on {cat.device}."
        if pred.lengths.message():
            status += f" {pred.lengths.message()}."
        if renamed:  # the table, the Sequence picker and /explain all use the new ids
            status += f" Note: {renamed}."
        if (unreliable := pred.lengths.unreliable_message()):  # the sentence `genozoo predict` writes
            status += f"\n\n**Warning: {unreliable}.**"
        return status, table

    def draw(table: pd.DataFrame | None):
        """The page's chart and sequence picker, from the table /predict returned: drawn in the browser's own
        follow-up event, so API callers get the numbers without paying for a chart they do not see."""
        if table is None or len(table) == 0 or "id" not in table.columns:
            return None, gr.update(choices=[], value=None)
        classes = [c for c in table.columns if c.startswith("p(")]
        chart = table.melt(id_vars="id", value_vars=classes, var_name="class", value_name="probability")
        chart["class"] = chart["class"].str[2:-1]
        ids = [str(i) for i in table["id"]]
        return chart, gr.update(choices=ids, value=ids[0])

    @_user_errors
    def explain(model: str, text: str, upload: str | None, seq_id: str, method: str):
        entry = cat.entry(model)
        ids, seqs = parse_sequences(text, upload, lim)
        if not seq_id:
            seq_id = ids[0]
        if seq_id not in ids:
            raise UserError(f"sequence {seq_id!r} is not in the input; press Predict first and pick one")
        return cat.explain(entry.name, seqs[ids.index(seq_id)], seq_id, method or None)

    @_user_errors
    def compare(task: str, text: str, upload: str | None):
        cat.check_task(task)
        ids, seqs = parse_sequences(text, upload, lim)
        headers, rows = cat.compare(task, seqs, ids)
        return pd.DataFrame(rows, columns=headers)

    with gr.Blocks(title="genozoo: DNA sequence baselines", delete_cache=(600, 1800)) as demo:
        gr.Markdown(
            "# genozoo\nPretrained baselines for genomic DNA sequence classification. Pick a task and a model, "
            "paste sequences (FASTA or one per line) or upload a file, press **Predict**.\n\n"
            f"{len(cat.entries)} model(s) for {len(tasks)} task(s) · running on **{cat.device}** · "
            f"{'offline, bundled hub' if offline else 'Hugging Face Hub allowed'} · at most "
            f"{lim.max_sequences} sequences of at most {lim.max_length:,} bp (and 10x the model's input) per "
            "request · a sequence shorter "
            "than half the model's input is mostly padding, and its prediction unreliable")
        with gr.Tab("Predict"):
            with gr.Row():
                task = gr.Dropdown(task_choices, value=task0, label="Task (input length, classes)", elem_id="task",
                                   allow_custom_value=True)
                model = gr.Dropdown(cat.models_for(task0), value=model0, label="Model", elem_id="model",
                                    allow_custom_value=True)
            card = gr.Markdown(cat.entry(model0).summary(), elem_id="card")
            with gr.Row():
                text = gr.Textbox(label="Sequences (FASTA or one per line)", lines=8, elem_id="sequences",
                                  placeholder=">my_seq\nACGTTGCA...")
                upload = gr.File(label="or upload FASTA / CSV (optionally .gz)", type="filepath",
                                 file_types=[".fa", ".fasta", ".fna", ".txt", ".csv", ".tsv", ".gz"])
            with gr.Row():
                ex_btn = gr.Button("Example sequences for this task", elem_id="examples")
                run = gr.Button("Predict", variant="primary", elem_id="predict")
            status = gr.Markdown(elem_id="status")
            table = gr.Dataframe(label="Class probabilities", interactive=False, elem_id="probabilities")
            chart = gr.BarPlot(x="id", y="probability", color="class", y_lim=[0, 1], label="Probabilities",
                               elem_id="chart")
            with gr.Accordion("Attribution logo of one sequence", open=True):
                methods0 = cat.methods(model0) if _explain_available() else ("ism",)
                with gr.Row(visible=_explain_available()):
                    seq_pick = gr.Dropdown([], label="Sequence (after Predict)", elem_id="explain-seq",
                                           allow_custom_value=True)
                    method = gr.Dropdown([(METHOD_TITLES[m], m) for m in methods0], value=methods0[0],
                                         label="Method (those this model supports)", elem_id="method",
                                         allow_custom_value=True)
                    ex_run = gr.Button("Explain", elem_id="explain")
                if _explain_available():
                    gr.Markdown("Each base is drawn as tall as its attribution for the predicted class: above the "
                                "axis it supports the class, below it argues against it. A planted motif of the "
                                "example sequences is shaded.")
                else:
                    gr.Markdown("Attribution logos need `zoo.explain`, which this build does not have.")
                caption = gr.Markdown(elem_id="logo-caption")
                logo = gr.Image(label="Attribution logo", show_label=False, type="pil", elem_id="logo",
                                format="png")
        with gr.Tab("Compare models"):
            gr.Markdown("Every published model of a task on the same input, with its test metric.")
            c_task = gr.Dropdown(task_choices, value=task0, label="Task (input length, classes)",
                                 elem_id="compare-task", allow_custom_value=True)
            c_text = gr.Textbox(label="Sequences (FASTA or one per line)", lines=6, elem_id="compare-sequences")
            c_upload = gr.File(label="or upload FASTA / CSV", type="filepath")
            with gr.Row():
                c_ex = gr.Button("Example sequences for this task")
                c_run = gr.Button("Compare all models", variant="primary", elem_id="compare")
            c_table = gr.Dataframe(label="All models", interactive=False, elem_id="comparison")
        # The last real choice of each picker (an emptied box goes back to it). Hidden boxes, not gr.State: a
        # State makes every open page hold a heartbeat connection to the server.
        last_task, last_model, c_last_task = (gr.Textbox(v, visible=False) for v in (task0, model0, task0))
        results = [status, table, chart, seq_pick, logo, caption]  # the order of empty_results()

        task.change(on_task, [task, last_task], [task, last_task, model, card, method, *results],
                    api_visibility="private")
        model.change(on_model, [model, last_model], [model, last_model, card, method, *results],
                     api_visibility="private")
        c_task.change(on_compare_task, [c_task, c_last_task], [c_task, c_last_task, c_table],
                      api_visibility="private")
        ex_btn.click(examples, task, text, api_name="examples", queue=False)
        # preprocess/postprocess off: the inputs are plain strings (and an upload's FileData, which Gradio still
        # checks and moves into its cache), the outputs already what the page's Markdown and Dataframe take;
        # Gradio would otherwise run each of the five components' converters on a worker thread of its own.
        predicted = run.click(predict, [model, text, upload], [status, table], api_name="predict",
                              concurrency_limit=concurrency, concurrency_id="predict", preprocess=False,
                              postprocess=False)
        predicted.success(draw, table, [chart, seq_pick], api_visibility="private", queue=False)
        # A failed Predict (its sentence is the toast) takes the previous run's results off the page, as a task
        # switch does: they would read as the answer to the input that failed. The page's own follow-up event, so
        # the API pays nothing for it.
        predicted.failure(empty_results, None, results, api_visibility="private", queue=False)
        if _explain_available():
            ex_run.click(explain, [model, text, upload, seq_pick, method], [logo, caption], api_name="explain",
                         concurrency_limit=1, concurrency_id="explain")
        c_ex.click(examples, c_task, c_text, api_visibility="private", queue=False)
        c_run.click(compare, [c_task, c_text, c_upload], c_table, api_name="compare", concurrency_limit=4,
                    concurrency_id="compare")
    demo.queue(default_concurrency_limit=concurrency, max_size=max_queue)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, device: str = "auto", hub_dir: str | None = None,
           limits: Limits = Limits(), concurrency: int = 32, max_queue: int = 64, max_models: int = 8,
           threads: int | None = None, block: bool = True, defaults: dict[str, str] | None = None,
           announce: Callable[[], None] | None = None) -> gr.Blocks:
    """Build and start the space on ``host:port`` (``port=0``: a free port); ``block=False`` returns at once. A
    port in use, or a host that is no address of this machine, is refused in one sentence before any model loads.
    ``defaults``: task -> the model the page starts with for that task (default: the best by validation).
    ``announce``: called once the catalogue is built and its names checked, before the models load (the command
    says then that it will serve, so a refused ``--default`` comes before any such line)."""
    # The compute lanes take the GIL back between C++ calls (a few per GenoNet pass, hundreds per BERT pass) while
    # the event loop runs Python; each such wait lasts up to the switch interval, 5 ms by default.
    sys.setswitchinterval(0.0005)
    from zoo.cli.space import check_address
    from zoo.errors import EnvironmentFailure

    port = check_address(host, port)  # before the models load: a taken port or a bad host is one sentence
    catalogue = Catalogue(hub_dir, device, limits, max_models=max_models, threads=threads, defaults=defaults)
    if announce is not None:
        announce()
    catalogue.warm_up(freeze=True)
    demo = build_demo(catalogue, concurrency=concurrency, max_queue=max_queue)
    # quiet: Gradio's own lines would suggest share=True, which this space does not offer.
    try:
        demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                    show_error=True, ssr_mode=False, share=False)
    except OSError as err:  # taken meanwhile (Gradio's "Cannot find empty port ..." names neither host nor cause)
        raise EnvironmentFailure(f"the space could not listen on {host}:{port} (the port was taken meanwhile, or "
                                 "the host cannot be served); pick another --port or --host") from err
    freeze_startup_heap()  # what the page and Gradio's web server made (~17,000 objects: a 3 ms collection)
    if block:
        print(f"genozoo space: ready at {demo.local_url} (Ctrl-C stops it)", flush=True)
        demo.block_thread()
    return demo


if __name__ == "__main__":  # Hugging Face Spaces run `python app.py`
    launch(host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"),
           port=int(os.environ.get("GRADIO_SERVER_PORT", 7860)), device=os.environ.get("GENOZOO_DEVICE", "auto"))
