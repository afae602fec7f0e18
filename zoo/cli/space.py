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


def check_address(host: str, port: int) -> int:
    """The port the space will listen on at ``host``: ``port``, or a free one when it is 0. Refused in one
    sentence, before any model is loaded: an empty host, or one that does not resolve or is no address of this
    machine (status 2, naming the host); a port in use or not allowed to this user (status 1, naming the port)."""
    import errno
    import socket

    from zoo.errors import EnvironmentFailure

    if not host.strip():
        raise UserError("--host is empty; give an address to listen on, e.g. 127.0.0.1 (this machine only) or "
                        "0.0.0.0 (other machines too)")
    shown = f"[{host}]" if ":" in host else host
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError, ValueError):
        raise UserError(f"--host {host!r} is neither an address nor a host name that resolves; give an address of "
                        "this machine, e.g. 127.0.0.1 or 0.0.0.0") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server does: TIME_WAIT is free
        try:
            sock.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise EnvironmentFailure(f"port {port} is in use on {host}; pick another with --port (--port 0 "
                                         "picks a free one)") from None
            if err.errno in (errno.EACCES, errno.EPERM):
                raise EnvironmentFailure(f"port {port} may not be used by this user (ports below 1024 need "
                                         "privileges); pick another with --port") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise UserError(f"--host {host!r} is not an address of this machine, so the space cannot listen "
                                "on it; give 127.0.0.1, 0.0.0.0 or one of this machine's addresses") from None
            raise EnvironmentFailure(f"cannot listen on {shown}:{port}: "
                                     f"{(err.strerror or str(err)).rstrip('.')}") from None
        return int(sock.getsockname()[1])


def _check_hub_dir(path: Path | str | None, what: str) -> None:
    """A folder of model folders given to the space (``--hub-dir``, ``$GENOZOO_HUB_DIR``) must be a folder."""
    if path is None:
        return
    if not str(path).strip():
        raise UserError(f"{what} is empty; give a folder of model folders, or leave it out")
    if not Path(path).is_dir():
        why = "is not a folder" if Path(path).exists() else "does not exist"
        raise UserError(f"{what} {str(path)!r} {why}; give a folder of model folders (e.g. the -o folders of "
                        "genozoo finetune), or leave it out")


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
    _check_hub_dir(args.hub_dir, "--hub-dir")
    if "GENOZOO_HUB_DIR" in os.environ:  # the bundle the published weights load from
        _check_hub_dir(os.environ["GENOZOO_HUB_DIR"], "GENOZOO_HUB_DIR")
    # Before gradio and the models load (seconds to minutes): a taken port or a bad host is one sentence now.
    args.port = check_address(args.host, args.port)
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
    from genozoo_space import DefaultRefused, Limits

    limits = Limits(max_sequences=args.max_sequences, max_length=args.max_length)

    def announce() -> None:  # once the catalogue has checked the names: a refused --default is said before it
        print(f"genozoo space: loading the default model of every task, then serving http://{args.host}:"
              f"{args.port}", flush=True)

    try:
        app.launch(host=args.host, port=args.port, device=args.device, hub_dir=args.hub_dir, limits=limits,
                   concurrency=args.concurrency, max_queue=args.max_queue, max_models=args.max_models,
                   threads=args.threads or None, block=True, defaults=defaults, announce=announce)
    except DefaultRefused as e:  # the catalogue's sentence, naming the option the bad value came from
        raise UserError(f"--default {e.choice}: {e}") from None
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
                   help="port to listen on; 0 picks a free one and prints it (default: $GRADIO_SERVER_PORT or 7860, "
                        "now %(default)s)")
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
