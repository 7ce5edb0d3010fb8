#!/usr/bin/env bash
# SAM 2-family figures on a CUDA GPU (issue #27), for the device tool: every size at 480p and
# 1080p in bf16, then compiled, then GPU memory over 1k and 10k frames (tiny and large).
# Random weights of the published shapes (speed does not depend on the values). Tables go to
# stdout, JSON rows to $OUT (the device tool's output folder) or benchmarks/results/.
# Goals (H100): SAM 2.1-L >= 40 fps and tiny >= 90 fps at 480p, flat memory over 10k frames.
set -euo pipefail
OUT="${OUT:-benchmarks/results}"
mkdir -p "$OUT"
MODELS="sam2.1-tiny sam2.1-small sam2.1-base-plus sam2.1-large edgetam"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/sam2_gpu_card.csv"
for height in 480 1080; do
  python -m benchmarks.sam2_speed --device cuda --precision bf16 --frames 200 --height "$height" \
    --models $MODELS --json "$OUT/sam2_gpu_${height}p_bf16.json"
  python -m benchmarks.sam2_speed --device cuda --precision bf16 --compile --frames 200 --height "$height" \
    --models $MODELS --json "$OUT/sam2_gpu_${height}p_bf16_compiled.json"
done
for model in sam2.1-tiny sam2.1-large; do
  python -m benchmarks.sam2_speed --device cuda --precision bf16 --long 1000 10000 --long-model "$model" \
    --long-height 480 --json "$OUT/sam2_gpu_memory_${model}.json"
done
