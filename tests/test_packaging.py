"""The distribution ships the zoo: an sdist built from the repository carries the bundled hub, the card templates,
the space and the recipes (MANIFEST.in); the wheel built from that sdist holds every published ``hub/<org>/<name>/``
folder inside the package; installed from the wheel alone (``--no-deps --target``), with the checkout off the path,
offline and with an empty Hugging Face cache, genozoo finds every published model, loads and predicts one of each
family, reproduces their reference predictions, renders a card and finds its space."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from zoo.hub import WEIGHTS_NAME, hub_dir
from zoo.registry import list_models, pretrained_cfg, repo_id_for
from zoo.resources import RESOURCES

ROOT = Path(__file__).resolve().parents[1]
# What an sdist is made from; the rest of the repository (tests, bench, train/results) is not needed to build.
SOURCE = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "zoo", *RESOURCES]


def _pip(*args: str, cwd: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """sdist from a copy of the repository's sources (PEP 517, the repository's own setuptools), then the wheel
    from that sdist, all without build isolation (no network)."""
    tmp = tmp_path_factory.mktemp("dist")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "*.tmp")
    for name in SOURCE:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, src / name, **(
            {"ignore": ignore} if (ROOT / name).is_dir() else {}))
    res = subprocess.run([sys.executable, "-c", f"from setuptools import build_meta as b; "
                          f"print(b.build_sdist({str(tmp / 'sdist')!r}))"], cwd=src, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    sdist = tmp / "sdist" / res.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    for name in list_models(pretrained=True):
        assert any(n.endswith(f"hub/{repo_id_for(pretrained_cfg(name))}/{WEIGHTS_NAME}") for n in names), name
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp / "wheel"), str(sdist),
         cwd=tmp)
    (whl,) = (tmp / "wheel").glob("genozoo-*.whl")
    return whl


def test_wheel_holds_every_published_folder(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for name in list_models(pretrained=True):
        folder = f"zoo/_bundle/hub/{repo_id_for(pretrained_cfg(name))}"
        for f in sorted(p.name for p in (hub_dir() / repo_id_for(pretrained_cfg(name))).iterdir()):
            assert f"{folder}/{f}" in names, f"{folder}/{f} is not in {wheel.name}"
    assert {"zoo/_bundle/cards/model_card.md", "zoo/_bundle/space/app.py", "zoo/pretrained.json"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".tmp")]
    # hub/ stays under its 60 MB budget, so the wheel stays far below PyPI's 100 MB file limit.
    assert wheel.stat().st_size < 60 * 2**20


@pytest.mark.slow
def test_installed_wheel_loads_the_zoo_without_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    _pip("install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel), cwd=tmp_path)
    one_per_family = {}
    for name in list_models(pretrained=True):
        from zoo.registry import model_family

        one_per_family.setdefault(model_family(name), name)
    script = textwrap.dedent(f"""
        import json, os, sys
        checkout, target = {str(ROOT)!r}, {str(target)!r}
        # An editable install of the checkout may sit in site-packages: take its finder away so only the wheel
        # can answer `import zoo`.
        sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
        sys.path = [p for p in sys.path
                    if p == target or not os.path.isfile(os.path.join(p or ".", "zoo", "__init__.py"))]
        import zoo
        from zoo.hub import hub_dir, resolve_pretrained
        from zoo.cards import TEMPLATE
        from zoo.publish import verify
        from zoo.resources import resource_dir
        out = {{"zoo": zoo.__file__, "hub": str(hub_dir()), "n": len(zoo.list_models(pretrained=True)),
               "template": TEMPLATE.is_file(), "space": (resource_dir("space") / "app.py").is_file(),
               "models": {{}}}}
        for name in {sorted(one_per_family.values())!r}:
            model = zoo.create_model(name, pretrained=True)
            p = model.predict(["ACGT" * 30]).probabilities
            out["models"][name] = {{"source": model.weights_source,
                                    "weights": str(resolve_pretrained(model.pretrained_cfg)[0]),
                                    "p_sum": float(p.sum()), "verify": verify(name)["ok"]}}
        out["from_checkout"] = sorted(m.__name__ for m in list(sys.modules.values())  # not the checkout's venv
                                      if str(getattr(m, "__file__", None) or "").startswith(checkout + os.sep)
                                      and not str(m.__file__).startswith(sys.prefix))
        print(json.dumps(out))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENOZOO_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(target), HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty-hf-home"))
    res = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["zoo"].startswith(str(target)) and out["hub"].startswith(str(target))
    assert out["n"] == len(list_models(pretrained=True)) and out["template"] and out["space"]
    assert out["from_checkout"] == []
    assert set(map(model_family, out["models"])) == {"paper_cnn", "deepram", "nlp", "transformer", "convformer", "genonet"}
    for name, m in out["models"].items():
        assert m["source"] == "bundle" and m["weights"].startswith(str(target)), name
        assert m["p_sum"] == pytest.approx(1.0, abs=1e-5) and m["verify"], name
