"""Exports VDSR for deployment: SavedModel, TFLite and an end-to-end model, with measured parity.

The same command as ``vdsr-tf export``: its flags and docs are in vdsr_tf/cli/export.py.
"""
import sys

from vdsr_tf.cli import export

if __name__ == "__main__":
    sys.exit(export.run(sys.argv[1:], prog="export"))
