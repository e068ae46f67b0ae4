"""The TrainBackend Protocol is what the Trainer uses of a backend, and both backends meet it."""
import ast
import pathlib
import typing

import pytest

from vdsr_tf.train.backend import TrainBackend

ROOT = pathlib.Path(__file__).resolve().parents[1]
MEMBERS = set(typing.get_type_hints(TrainBackend)) | {
    name for name in vars(TrainBackend) if not name.startswith("_")}
BACKENDS = {"TFBackend": "vdsr_tf/train/tf_backend.py", "JaxBackend": "vdsr_tf/train/jax_backend.py"}
USERS = ["vdsr_tf/train/trainer.py", "vdsr_tf/research/train_speed.py"]


def _provided(path: str, cls: str) -> set[str]:
    """Names a class defines in its body, plus what its __init__ assigns to self."""
    tree = ast.parse((ROOT / path).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    names = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(item.name)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    init = next(i for i in node.body if isinstance(i, ast.FunctionDef) and i.name == "__init__")
    for sub in ast.walk(init):
        if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store) and \
                isinstance(sub.value, ast.Name) and sub.value.id == "self":
            names.add(sub.attr)
        if isinstance(sub, ast.Tuple) and isinstance(sub.ctx, ast.Store):
            names |= {e.attr for e in sub.elts if isinstance(e, ast.Attribute)}
    return names


def _used_on_backends(path: str) -> set[str]:
    """Attributes the module reads off anything it calls ``backend`` (``self.backend.x``, ``backend.x``)."""
    used = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.Attribute):
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if name == "backend":
                used.add(node.attr)
    return used


def test_the_protocol_names_the_members_the_trainer_relies_on():
    assert {"step", "save", "train_step", "batches", "eval_model", "strategy", "restored_from"} <= MEMBERS


@pytest.mark.parametrize("cls", sorted(BACKENDS))
def test_each_backend_provides_every_member(cls):
    missing = MEMBERS - _provided(BACKENDS[cls], cls)
    assert not missing, f"{cls} lacks {sorted(missing)}"


@pytest.mark.parametrize("path", USERS)
def test_nothing_reaches_past_the_protocol(path):
    used = _used_on_backends(path)
    assert used, f"{path} was expected to use a backend"  # the walk above found the calls
    assert used <= MEMBERS, f"{path} uses {sorted(used - MEMBERS)} outside TrainBackend"
    assert "getattr(self.backend" not in (ROOT / path).read_text()


def test_a_live_tensorflow_backend_is_a_train_backend(tmp_path):
    from vdsr_tf.train.config import TrainConfig
    from vdsr_tf.train.tf_backend import TFBackend

    backend = TFBackend(TrainConfig(depth=3, filters=4, batch_size=4, ema_decay=0.9), str(tmp_path))
    assert isinstance(backend, TrainBackend)
    assert backend.step == 0 and backend.restored_from is None and backend.replicas == 1
