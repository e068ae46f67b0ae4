"""vdsr_tf.train.metering.Meter: what a run prints while it trains."""
import logging

from vdsr_tf.train.metering import Meter


class _Scalars:
    def __init__(self):
        self.steps = []

    def scalars(self, values, step):
        self.steps.append(step)


def test_the_first_step_is_logged_at_once_then_every_log_every(caplog):
    writer = _Scalars()
    meter = Meter(writer, total_steps=12, batch_size=4, log_every=5)
    with caplog.at_level(logging.INFO, logger="vdsr_tf.train.metering"):
        for done in range(8, 13):  # a resumed run: its first step is 8, not a multiple of 5
            meter.update(done, 1e-4, 2.0, 1.0, 0.0)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split()[1] for line in lines] == ["8/12", "10/12", "12/12"]
    assert "ETA" in lines[0] and "first step" in lines[0]
    assert not any("first step" in line for line in lines[1:])
    assert writer.steps == [8, 10, 12]
