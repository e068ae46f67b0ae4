"""Checks an export folder: every artefact of its manifest.json against the Keras model.

The same command as ``vdsr-tf verify``: its flags and docs are in vdsr_tf/cli/verify.py.
"""
import sys

from vdsr_tf.cli import verify

if __name__ == "__main__":
    sys.exit(verify.run(sys.argv[1:], prog="verify_export"))
