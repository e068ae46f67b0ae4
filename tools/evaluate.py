"""Scores VDSR (or bicubic) on benchmark folders as in the paper's Table 3.

The same command as ``vdsr-tf evaluate``: its flags and docs are in vdsr_tf/cli/evaluate.py.
"""
import sys

from vdsr_tf.cli import evaluate

if __name__ == "__main__":
    sys.exit(evaluate.run(sys.argv[1:], prog="evaluate"))
