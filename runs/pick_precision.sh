#!/usr/bin/env bash
# Prints the faster training precision on this CPU (float32 or mixed_bfloat16), timed with
# tools/benchmark.py (about a minute): mixed_bfloat16 made a step 1.9x faster than float32 on
# session 3's Zen 4 and 0.57x as fast on session 5's Xeon (avx512_bf16, no AMX). The run
# scripts call it unless $PRECISION names one. Usage: runs/pick_precision.sh PYTHON
# A stop during the timing ends it with status 143 (the caller then stops before training).
py=${1:-python}
probe=$(mktemp -d)
trap 'rm -rf "$probe"; exit 143' TERM INT
"$py" tools/benchmark.py --sections=training --training_backends=tensorflow --training_steps=3 \
  --training_pipeline_batches=2 --json "$probe/bench.json" > "$probe/log" 2>&1
"$py" -c 'import json, sys
t = json.load(open(sys.argv[1]))["training"]["tensorflow"]
print(max(("float32", "mixed_bfloat16"), key=lambda p: t.get(p, {}).get("patches_per_s", 0)))' \
  "$probe/bench.json" 2>/dev/null || echo float32
rm -rf "$probe"
