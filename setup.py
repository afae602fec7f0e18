"""Build hook: a wheel carries the repository's non-Python folders (the bundled hub of published weights, the card
templates, the space and the training recipes) inside the package as ``zoo/_bundle/<name>/``, where
:mod:`zoo.resources` finds them. Everything else about the distribution is in ``pyproject.toml``.

Package data rather than a companion distribution: the weights and their records (``zoo/pretrained.json``, which
pins each file's sha256) must move in lockstep, one version, one install; the hub is kept under 60 MB, so the wheel
stays far below PyPI's 100 MB file limit. An editable install reads the checkout's folders directly.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RESOURCES = ("hub", "cards", "space", "train/recipes")  # keep in step with zoo/resources.py
SKIP = shutil.ignore_patterns(".*", "*.tmp", "__pycache__", "*.pyc", "flagged", ".gradio")


class BuildWithBundle(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders (zoo.resources)
        for name in RESOURCES:
            src, dst = ROOT / name, Path(self.build_lib) / "zoo" / "_bundle" / name
            if not src.is_dir():
                raise SystemExit(f"cannot build genozoo: {src} is missing (build from a full checkout or sdist)")
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=SKIP)


setup(cmdclass={"build_py": BuildWithBundle})
