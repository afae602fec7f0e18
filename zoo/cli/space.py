"""``genozoo space``: run the Gradio space (``space/app.py``) on this machine, offline by default."""
from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path

from zoo.cli import add_threads_option
from zoo.cli.options import device, int_range
from zoo.errors import UserError
from zoo.resources import resource_dir


def _app_module():
    """Import ``space/app.py`` of the checkout (the space is laid out as a Hugging Face Space, outside the
    package); ``$GENOZOO_SPACE_DIR`` points elsewhere."""
    folder = Path(os.environ.get("GENOZOO_SPACE_DIR") or resource_dir("space"))
    app = folder / "app.py"
    if not app.is_file():
        raise UserError(f"the space is not at {app}; reinstall genozoo (its wheel carries the space) or set "
                        f"GENOZOO_SPACE_DIR to the folder holding app.py")
    spec = importlib.util.spec_from_file_location("genozoo_space_app", app)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _defaults(pairs: list[str] | None) -> dict[str, str]:
    """``--default TASK=MODEL`` options as a dict (the catalogue checks the names)."""
    defaults = {}
    for pair in pairs or ():
        task, sep, name = pair.partition("=")
        if not sep or not task.strip() or not name.strip():
            raise UserError(f"--default takes TASK=MODEL (e.g. histone_h3_gue=genonet_small_pos32.histone_h3_gue), "
                            f"not {pair!r}")
        defaults[task.strip()] = name.strip()
    return defaults


def cmd_space(args: argparse.Namespace) -> int:
    defaults = _defaults(args.default)
    # Before gradio or huggingface_hub are imported: they read these once.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    if not args.online:
        os.environ["HF_HUB_OFFLINE"] = "1"
    # --hub-dir adds model folders to the catalogue; it does not move the bundle the published weights load from
    # (that is $GENOZOO_HUB_DIR), so the published models stay offered beside them.
    # SIGTERM (docker stop, tini) ends the space like Ctrl-C: gradio closes its server and the command returns 0.
    signal.signal(signal.SIGTERM, _interrupt)
    app = _app_module()
    from genozoo_space import Limits

    limits = Limits(max_sequences=args.max_sequences, max_length=args.max_length)
    print(f"genozoo space: loading the default model of every task, then serving http://{args.host}:{args.port}",
          flush=True)
    app.launch(host=args.host, port=args.port, device=args.device, hub_dir=args.hub_dir, limits=limits,
               concurrency=args.concurrency, max_queue=args.max_queue, max_models=args.max_models,
               threads=args.threads or None, block=True, defaults=defaults)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "space", help="run the Gradio demo (predict, compare, explain) in the browser",
        description="Start the genozoo Gradio space: pick a task and a published model, paste or upload DNA "
                    "sequences, see class probabilities, a bar chart and attribution logos, and compare all "
                    "models of a task. Offline on the bundled hub/ unless --online; no analytics. There is no "
                    "--share: the app is served on your own machine only.")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                   help="address to listen on; 0.0.0.0 serves other machines too (default: $GRADIO_SERVER_NAME or "
                        "127.0.0.1, now %(default)s)")
    p.add_argument("--port", type=int_range(0, 65_535), default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
                   help="port to listen on (default: $GRADIO_SERVER_PORT or 7860, now %(default)s)")
    p.add_argument("--device", default="auto", type=device,
                   help="torch device for the models: auto (a GPU when visible, else the CPU), cpu, cuda or "
                        "cuda:N (default: %(default)s)")
    p.add_argument("--hub-dir", type=Path,
                   help="folder of model folders to offer besides the published ones (default: $GENOZOO_HUB_DIR "
                        "or the bundled hub/)")
    p.add_argument("--online", action="store_true",
                   help="allow downloading published weights from the Hugging Face Hub (default: offline, "
                        "HF_HUB_OFFLINE=1)")
    p.add_argument("--max-sequences", type=int_range(1, 100_000), default=100,
                   help="most sequences one request may hold (default: %(default)s)")
    p.add_argument("--max-length", type=int_range(1, 10_000_000), default=5000,
                   help="longest sequence in bp one request may hold (default: %(default)s)")
    p.add_argument("--concurrency", type=int_range(1, 1_000), default=32,
                   help="predictions in flight at once; their forward passes are batched together, the rest wait "
                        "in the queue (default: %(default)s)")
    p.add_argument("--max-models", type=int_range(1, 1_000), default=8,
                   help="models kept loaded at once; the least recently used is dropped when another is needed, so "
                        "memory stays bounded (default: %(default)s)")
    p.add_argument("--max-queue", type=int_range(1, 100_000), default=64,
                   help="requests that may wait; more are refused with a 'queue full' message "
                        "(default: %(default)s)")
    p.add_argument("--default", action="append", metavar="TASK=MODEL",
                   help="the model a task starts with, instead of the best by validation (repeat for several "
                        "tasks); e.g. a faster one on a small CPU host serving many users: "
                        "histone_h3_gue=genonet_small_pos32.histone_h3_gue")
    add_threads_option(p)
    p.set_defaults(func=cmd_space)
