"""``python -m vdsr_tf.cli``: the ``vdsr-tf`` command line."""
import sys

from vdsr_tf.cli import main

sys.exit(main())
