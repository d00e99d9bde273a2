#!/usr/bin/env bash
# Fill the git-ignored folders that a GPU session's device call carries (issue 19):
#   .whl/                 diffusers and importlib_metadata for the device's Python 3.12 (its image lacks them)
#   .carry/fashion-mnist/ Debian's Fashion-MNIST IDX files (the device cannot download them): the test split,
#                         the first 30,000 training images the queue uses, and the last 64, on which
#                         fashion_eval tunes DPS (17 MB in all, not 31)
# Then, with the device tool: run(command="bash tools/gpu_session.sh", carry=[".whl", ".carry"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl .carry/fashion-mnist
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl diffusers==0.42.1 importlib_metadata==10.2.0
rm -f .carry/fashion-mnist/*.gz
cp /usr/share/datasets/fashion-mnist/t10k-*.gz .carry/fashion-mnist/
python3 tools/first_idx_rows.py /usr/share/datasets/fashion-mnist .carry/fashion-mnist --rows 30000 --last 64 \
    train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
du -sh .whl .carry
