"""Speed and memory of vdsr_tf, by section (numbers for BUILD_NOTES.md).

The same command as ``vdsr-tf bench``: its flags and docs are in vdsr_tf/cli/bench.py.
"""
import sys

from vdsr_tf.cli import bench

if __name__ == "__main__":
    sys.exit(bench.run(sys.argv[1:], prog="benchmark"))
