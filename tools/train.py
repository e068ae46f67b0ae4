"""Trains VDSR, or resumes the run in --workdir (the model card's command).

The same command as ``vdsr-tf train``: its flags and docs are in vdsr_tf/cli/train.py.
"""
import sys

from vdsr_tf.cli import train

if __name__ == "__main__":
    sys.exit(train.run(sys.argv[1:], prog="train.py"))
