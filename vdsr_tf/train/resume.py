"""Which checkpoint a run resumes from, for both backends: the rule that a damaged checkpoint
gives way to the newest intact older one and never sends a run back to step 0.

Each backend says how it reads one of its checkpoints (``restore(step)``); a reader that
finds the files unreadable raises :class:`Damaged`, one that finds another network or
optimizer raises ValueError, which stops the run.
"""
from __future__ import annotations

import logging

__all__ = ["Damaged", "restore_newest_intact"]

logger = logging.getLogger(__name__)


class Damaged(Exception):
    """A checkpoint whose files cannot be read; its text says why, in one line."""


def restore_newest_intact(folder: str, steps, restore):
    """Tries ``restore(step)`` for ``steps`` in the order given (newest first) and returns
    ``(step, what restore returned, [the damaged steps passed over])`` for the first that reads,
    with one warning naming the damaged ones and the step resumed from; ``(None, None, [])`` when
    ``steps`` is empty. When none reads: a one-line ValueError naming the folder and the fix."""
    tried = []
    for step in steps:
        try:
            result = restore(step)
        except Damaged as e:
            tried.append((step, str(e)))
            continue
        if tried:
            damaged = ", ".join(f"ckpt-{s} ({why})" for s, why in tried)
            logger.warning("damaged checkpoint %s in %s: resuming from the previous intact checkpoint, ckpt-%d "
                           "(step %d); the damaged files stay until the run saves over them", damaged, folder,
                           step, step)
        return step, result, [s for s, _ in tried]
    if tried:
        damaged = "; ".join(f"ckpt-{s}: {why}" for s, why in tried)
        raise ValueError(f"no checkpoint in {folder!r} can be restored ({damaged}): restore the folder from a copy, "
                         "or move it away to start again at step 0")
    return None, None, []
