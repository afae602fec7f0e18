"""The layering of zoo/: data flows one way (files -> zoo.data -> zoo.encoding -> models -> engine -> hub/cards ->
space/CLI), so the import graph of the package has no cycle, and the models know nothing of the hub, the cards or
prediction. Every import counts, including those inside functions (they only hide a cycle, they do not break it)."""
from __future__ import annotations

import ast
from pathlib import Path

ZOO = Path(__file__).resolve().parents[1] / "zoo"


def import_graph(root: Path = ZOO) -> dict[str, set[str]]:
    """Module -> the zoo modules it imports anywhere in its source (``from zoo import hub`` is ``zoo.hub``;
    ``from zoo.hub import save_model`` is ``zoo.hub``; relative imports resolved)."""
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    head = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(head + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            edges |= {m for t in targets if t.split(".")[0] == "zoo" and (m := known(t)) and m != name}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walker_sees_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "zoo"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("from zoo.models.base import Model\n")
    (pkg / "models" / "base.py").write_text("class Model:\n    def predict(self):\n        from zoo import predict\n")
    (pkg / "predict.py").write_text("from .models.base import Model\n")
    assert cycles(import_graph(pkg)) == [["zoo.models.base", "zoo.predict"]]


def test_zoo_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_models_know_nothing_of_the_layers_above():
    graph = import_graph()
    above = ("zoo.hub", "zoo.cards", "zoo.predict", "zoo.publish", "zoo.engine", "zoo.cli", "zoo.finetune")
    for name, edges in graph.items():
        if name == "zoo.models" or name.startswith("zoo.models."):
            assert not [e for e in edges if e.startswith(above)], (name, edges)
    assert not [e for e in graph["zoo.registry"] if e.startswith(above + ("zoo.models",))]


def test_the_layers_above_attach_what_the_models_offer():
    """model.predict and save_pretrained's full config.json come from the layers above, installed by `import zoo`."""
    import zoo
    from zoo import hub, predict
    from zoo.models.base import ZooModel

    assert ZooModel.predict_hook is predict.predict and ZooModel.config_hook is hub.model_config
    model = zoo.create_model("cnn_zeng_2_conv2d", num_classes=3, seq_len=60)
    assert model.predict(["ACGT" * 15]).probabilities.shape == (1, 3)
