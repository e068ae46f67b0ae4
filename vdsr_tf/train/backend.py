"""TrainBackend: what the Trainer asks of a training backend (TFBackend, JaxBackend).

The Trainer orchestrates (schedule, logging, validation, the run folder); a backend owns the
model, optimizer, weight average and checkpoints of one framework. The Trainer and the speed
measurements use only the members below, so a backend is whatever provides them; tests check
both backends against this Protocol and the Trainer's source against its member list.
"""
from __future__ import annotations

from typing import Any, Iterator, Protocol, runtime_checkable

__all__ = ["TrainBackend"]


@runtime_checkable
class TrainBackend(Protocol):
    name: str
    """The framework, as TrainConfig.backend names it ("tensorflow" or "jax")."""
    is_chief: bool
    """Whether this process writes the run folder (False on a tf.distribute worker)."""
    replicas: int
    """Replicas a global batch is split over."""
    strategy: Any
    """The tf.distribute strategy, or None where there is none (JAX)."""
    restored_from: str | None
    """The checkpoint restored on start, or None for a fresh run."""
    optimizer: Any

    @property
    def step(self) -> int:
        """Updates done so far."""

    @property
    def elapsed(self) -> float:
        """Seconds of training so far, over every session of the run."""

    @property
    def latest_checkpoint(self) -> str | None:
        """The newest checkpoint's path prefix, or None."""

    def advance(self, step: int, seconds: float) -> None:
        """Records that ``step`` updates are done, ``seconds`` more of training time."""

    def save(self) -> str:
        """Writes a checkpoint at the current step; returns its path prefix."""

    def discard_worker_checkpoints(self) -> None:
        """Removes a non-chief worker's throwaway checkpoints at the end of a run."""

    def versions(self) -> dict:
        """The framework's versions and replica count, for the model card."""

    def batches(self, patch_set, start_step: int, num_steps: int) -> Iterator:
        """The batches of steps ``start_step`` .. ``start_step + num_steps - 1``."""

    def train_step(self, batch, lr: float) -> tuple[float, float, float]:
        """One update on ``batch`` at ``lr``: (loss, gradient norm, clipped fraction)."""

    def eval_model(self, average: bool = False):
        """A keras.Model with the current weights, or with ``average`` their moving average."""

    def scalar_writer(self, folder: str):
        """Where the Trainer's TensorBoard scalars go (a null writer off the chief)."""
