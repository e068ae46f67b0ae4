"""Rewrite README's measured tables from the bundled cards (after a re-bundle).

    python tools/readme_tables.py [--readme README.md] [--ensemble_json plus.json] [--check]

The JPEG table ("JPEG photos") comes from the jpeg card's rows. The VDSR+ table ("Quality or
speed") takes its plain rows from the same card and its "+" rows from ``--ensemble_json``
(after a paper re-bundle ``tools/evaluate.py --data .../Set5 --data .../Set14 --weights paper
--ensemble --json plus.json``; a group without "+" rows there, such as jpeg+, keeps its cells);
without it that table is left as it is. Each
table lies between ``<!-- name -->`` markers (:mod:`vdsr_tf.evaluation.markdown`). ``--check``
writes nothing and exits 1 when README differs from what the rows give.
"""
from __future__ import annotations

import json
import sys

from absl import app, flags

flags.DEFINE_string("readme", "README.md", "The Markdown file holding the marked tables.")
flags.DEFINE_string("ensemble_json", None, "tools/evaluate.py --ensemble --json rows (paper+, jpeg+).")
flags.DEFINE_bool("check", False, "Only compare: exit 1 when the file differs from the rows.")
FLAGS = flags.FLAGS


def main(argv):
    from vdsr_tf.core import atomic
    from vdsr_tf.evaluation import markdown
    from vdsr_tf.export import bundle

    try:
        if argv[1:]:
            raise ValueError(f"unexpected arguments: {argv[1:]}")
        with open(FLAGS.readme, encoding="utf-8") as f:
            text = f.read()
        rows = bundle.card_rows("jpeg")
        new = markdown.replace_block(text, "jpeg-table", markdown.jpeg_table(rows))
        if FLAGS.ensemble_json:
            with open(FLAGS.ensemble_json, encoding="utf-8") as f:
                plus = json.load(f)
            table = markdown.ensemble_table(plus + rows, previous=markdown.block(text, "ensemble-table"))
            new = markdown.replace_block(new, "ensemble-table", table)
    except OSError as e:
        print(f"readme_tables: error: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    except (ValueError, KeyError, TypeError) as e:
        print(f"readme_tables: error: {e}", file=sys.stderr)
        return 1
    if new == text:
        print(f"{FLAGS.readme}: its tables agree with the rows")
        return 0
    if FLAGS.check:
        print(f"readme_tables: {FLAGS.readme}: a table differs from the rows; run tools/readme_tables.py",
              file=sys.stderr)
        return 1
    atomic.write_text(FLAGS.readme, new)
    print(f"{FLAGS.readme}: tables rewritten from the rows")
    return 0


if __name__ == "__main__":
    from vdsr_tf.core.atomic import exits_cleanly_on_signals

    app.run(exits_cleanly_on_signals(main, "readme_tables"))
