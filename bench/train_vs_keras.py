"""Training speed beside the study's Keras models: seconds per epoch of genozoo and of Keras on splice, same data,
same settings (Adam 1e-3, batch 32, a validation pass each epoch), one CPU thread each, and their ratio, in wall
seconds and in CPU seconds of each process (which a machine busy with other work distorts less).

The Keras models are rebuilt from the study's published layer lists (``solislemuslab/dna-nn-theory``,
``cnn/dna_nn/model.py``; the trainable parameter counts are checked against tests/test_param_counts.py's table) and
trained by ``model.fit`` in a child process (TensorFlow and torch do not share a process well), on the very arrays
genozoo's encoding gives, in Keras' channels-last layout. Both run ``--epochs`` epochs (the study ran 50; a few
keep this short on a shared machine); the first epoch of each (graph tracing, warm-up) is left out of the median.
Prints one line per model and the machine's load average with it; needs ``pip install tensorflow-cpu``.

    .venv/bin/python bench/train_vs_keras.py --source ../shared/data/splice
    .venv/bin/python bench/train_vs_keras.py --archs deepram_recurrent_onehot --epochs 4 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARCHS = ("deepram_conv1d_recurrent_onehot", "cnn_nguyen_2_conv2d", "deepram_recurrent_onehot")
#: Trainable parameters of the study's Keras models on splice (tests/test_param_counts.py, PAPER.md).
KERAS_PARAMS = {"deepram_conv1d_recurrent_onehot": 226755, "cnn_nguyen_2_conv2d": 191299,
                "deepram_recurrent_onehot": 181507}


def keras_model(arch: str, input_shape: tuple[int, ...], num_classes: int):
    """The study's Keras model of ``arch`` (splice geometry), compiled as the study did."""
    from tensorflow import keras
    from tensorflow.keras import layers as L

    head = [L.Dense(num_classes, activation="softmax")]
    if arch == "cnn_nguyen_2_conv2d":
        body = [L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(32, 3, activation="relu"),
                L.MaxPooling2D(2), L.Flatten(), L.Dense(32, activation="relu"), L.Dropout(0.5)]
    elif arch == "deepram_conv1d_recurrent_onehot":
        body = [L.Dropout(0.5), L.Conv1D(64, 3, activation="relu"), L.MaxPooling1D(2),
                L.Conv1D(128, 3, activation="relu"), L.MaxPooling1D(2), L.LSTM(64, return_sequences=True),
                L.LSTM(128), L.Dense(128), L.Dropout(0.5)]
    elif arch == "deepram_recurrent_onehot":
        body = [L.Dropout(0.5), L.LSTM(64, return_sequences=True), L.LSTM(128), L.Dense(128), L.Dropout(0.5)]
    else:
        raise SystemExit(f"no Keras layer list for {arch}")
    model = keras.Sequential([keras.Input(input_shape), *body, *head])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def keras_child(arrays: str, arch: str, epochs: int, batch_size: int) -> dict:
    """Runs in the child process: train the Keras model on the saved arrays, one thread."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(0)
    d = np.load(arrays)
    model = keras_model(arch, d["x_train"].shape[1:], int(d["num_classes"]))
    params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    seconds: list[float] = []
    cpu: list[float] = []

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.t0)
            cpu.append(time.process_time() - self.c0)

    model.fit(d["x_train"], d["y_train"], batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
              validation_data=(d["x_val"], d["y_val"]), callbacks=[Timer()])
    acc = float(model.evaluate(d["x_test"], d["y_test"], batch_size=512, verbose=0)[1])
    return {"seconds": seconds, "cpu_seconds": cpu, "test_accuracy": acc, "params": params,
            "tensorflow": tf.__version__}


def keras_layout(x: np.ndarray, kind: str) -> np.ndarray:
    """genozoo's channels-first encodings in Keras' channels-last layout, float32."""
    x = x.astype(np.float32)
    return x.transpose(0, 2, 1) if kind == "kmer_seq" else x.transpose(0, 2, 3, 1)


def genozoo_run(arch: str, ds, epochs: int, batch_size: int, threads: int) -> dict:
    import torch

    from zoo import runtime
    from zoo.engine import TrainConfig, evaluate, fit, seed_everything
    from zoo.registry import create_model, study_kwargs

    runtime.configure_threads(threads)
    seed_everything(0)
    model = create_model(arch, **study_kwargs(arch, "splice"))
    cpu, last = [], [time.process_time()]

    def clock(epoch: int, record: dict) -> None:
        now = time.process_time()
        cpu.append(now - last[0])
        last[0] = now

    result = fit(model, ds["train"], ds["validation"], TrainConfig(epochs=epochs, batch_size=batch_size,
                                                                   patience=None, quiet=True), on_epoch_end=clock)
    acc = evaluate(model, ds["test"]).metrics["accuracy"]
    return {"seconds": [r["seconds"] for r in result.history], "cpu_seconds": cpu, "test_accuracy": acc,
            "params": model.num_parameters(), "torch": torch.__version__}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", default=",".join(ARCHS), help="comma-separated (default: the three of issue #24)")
    ap.add_argument("--source", default=str(ROOT.parent / "shared" / "data" / "splice"),
                    help="local copy of the splice files (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per framework and model (default: %(default)s)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of each framework (default: 1)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--keras-child", nargs=4, metavar=("ARRAYS", "ARCH", "EPOCHS", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.keras_child:
        arrays, arch, epochs, batch = args.keras_child
        print(json.dumps(keras_child(arrays, arch, int(epochs), int(batch))))
        return 0

    from zoo.data import load_benchmark
    from zoo.encoding import encode
    from zoo.registry import create_model, study_kwargs

    ds = load_benchmark("splice", source=args.source, protocol="paper", progress=False)
    results = []
    print(f"seconds per epoch on splice (train {len(ds['train'])}, validation {len(ds['validation'])}), batch "
          f"{args.batch_size}, {args.threads} thread(s) each, median of epochs 2..{args.epochs}")
    for arch in [a.strip() for a in args.archs.split(",") if a.strip()]:
        enc = create_model(arch, **study_kwargs(arch, "splice")).encoding
        with tempfile.TemporaryDirectory(prefix="genozoo-keras-") as tmp:
            arrays = Path(tmp) / "arrays.npz"
            splits = {s: (keras_layout(encode(ds[s]["sequence"], enc, return_tensor=False), enc.kind),
                          np.asarray(ds[s]["label"])) for s in ("train", "validation", "test")}
            np.savez(arrays, x_train=splits["train"][0], y_train=splits["train"][1], x_val=splits["validation"][0],
                     y_val=splits["validation"][1], x_test=splits["test"][0], y_test=splits["test"][1],
                     num_classes=3)
            load0 = os.getloadavg()[0]
            ours = genozoo_run(arch, ds, args.epochs, args.batch_size, args.threads)
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TF_NUM_INTRAOP_THREADS": str(args.threads)}
            child = subprocess.run([sys.executable, __file__, "--keras-child", str(arrays), arch, str(args.epochs),
                                    str(args.batch_size)], capture_output=True, text=True, env=env)
            if child.returncode != 0:
                print(child.stderr[-3000:], file=sys.stderr)
                return 1
            keras = json.loads(child.stdout.strip().splitlines()[-1])
            load1 = os.getloadavg()[0]
        timed = slice(1, None) if args.epochs > 1 else slice(None)
        g, k = statistics.median(ours["seconds"][timed]), statistics.median(keras["seconds"][timed])
        gc, kc = statistics.median(ours["cpu_seconds"][timed]), statistics.median(keras["cpu_seconds"][timed])
        row = {"arch": arch, "genozoo_s_per_epoch": round(g, 3), "keras_s_per_epoch": round(k, 3),
               "speedup": round(k / g, 2), "genozoo_cpu_s_per_epoch": round(gc, 3),
               "keras_cpu_s_per_epoch": round(kc, 3), "cpu_speedup": round(kc / gc, 2),
               "genozoo_test_accuracy": round(ours["test_accuracy"], 4),
               "keras_test_accuracy": round(keras["test_accuracy"], 4), "epochs": args.epochs,
               "keras_params": keras["params"], "keras_params_expected": KERAS_PARAMS.get(arch),
               "load_average": [round(load0, 2), round(load1, 2)], "torch": ours["torch"],
               "tensorflow": keras["tensorflow"]}
        results.append(row)
        print(f"{arch:34s} wall: genozoo {g:6.2f} s  keras {k:6.2f} s  -> {k / g:4.1f}x | CPU: {gc:6.2f} s vs "
              f"{kc:6.2f} s -> {kc / gc:4.1f}x | test acc after {args.epochs} epochs "
              f"{row['genozoo_test_accuracy']:.3f} vs {row['keras_test_accuracy']:.3f} (load {load0:.1f}-{load1:.1f}; "
              f"Keras params {keras['params']:,}"
              f"{'' if keras['params'] == KERAS_PARAMS.get(arch) else ' != the study table'})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
