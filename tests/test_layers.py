"""The package's folders are its layers (BUILD_NOTES.md, "Layout"): the core imports no
TensorFlow, Keras or JAX; no module imports a layer above its own; the import graph has no cycle."""
import ast
import pathlib
import subprocess
import sys

import pytest

import vdsr_tf

PACKAGE = pathlib.Path(vdsr_tf.__file__).parent
# Bottom to top. A module may import its own layer and the layers below it, never above.
LAYERS = ("core", "nn", "device", "infer", "evaluation", "data", "train", "export", "research", "cli")
HEAVY = ("tensorflow", "keras", "jax")


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: pathlib.Path) -> set[str]:
    """vdsr_tf modules that ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vdsr_tf"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("vdsr_tf"))
    return found


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _layer(module: str):
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_has_a_layer():
    loose = [m for m in MODULES if m != "vdsr_tf" and _layer(m) is None]
    assert loose == [], f"modules outside the layer folders: {loose}"


def test_no_import_goes_up_a_layer():
    upward = [f"{m} -> {t}" for m, targets in GRAPH.items() for t in sorted(targets)
              if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert upward == []


def test_the_import_graph_has_no_cycle():
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt in GRAPH and nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
    assert cycles == []


def test_the_checks_above_can_fail():
    # The graph really holds the edges the checks read: upscaler imports the network from below.
    assert "vdsr_tf.nn.model" in GRAPH["vdsr_tf.infer.upscaler"]
    assert _layer("vdsr_tf.cli") > _layer("vdsr_tf.infer.upscaler") > _layer("vdsr_tf.core.matlab")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == 0))
def test_core_imports_no_tensorflow_keras_or_jax(module):
    code = (f"import sys, {module}; "
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}); "
            "print(heavy); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{module} imported {proc.stdout.strip()} {proc.stderr[-500:]}"
