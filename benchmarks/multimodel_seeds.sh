#!/usr/bin/env bash
# Fine-tuned copies of minilm from two seeds (embedded polarity, top 2 layers), extracted on the EWT test set, compared
# with the base model and with each other (issue 12, multi-model search over fine-tuned seeds).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1; D=${NEURONLAB_SHARED_DATA:-../shared/data}
M=/tmp/neuronlab-models; S=/tmp/neuronlab-seeds; mkdir -p $M $S
for seed in 1 2; do
  [ -f $M/pol-seed$seed/neuronlab_card.json ] || /usr/bin/time -f "train seed $seed: %e s" .venv/bin/python -m neuronlab train \
     --data embedded --concept polarity --max-examples 600 --top-layers 2 --epochs 1 --lr 2e-4 --max-length 32 \
     --seed $seed --threads 2 --out $M/pol-seed$seed --quiet --json > $S/card-seed$seed.json
done
EWT=$D/ud-english-ewt/en_ewt-ud-test.conllu
for name in base seed1 seed2; do
  case $name in base) model=minilm;; seed1) model=$M/pol-seed1;; seed2) model=$M/pol-seed2;; esac
  [ -f $S/$name.h5 ] || /usr/bin/time -f "extract $name: %e s" .venv/bin/python -m neuronlab extract --model $model \
     --corpus $EWT --format conllu --sites 'embeddings,layers.*' --out $S/$name.h5 --quiet
done
.venv/bin/python -m neuronlab crossmodel $S/base.h5 $S/seed1.h5 $S/seed2.h5 --method maxcorr --sites 'layers.4,layers.5' --top-k 10 --no-write-back --json > $S/maxcorr.json
.venv/bin/python -m neuronlab crossmodel $S/seed1.h5 $S/seed2.h5 --method maxcorr --sites 'layers.5' --top-k 10 --no-write-back --json > $S/maxcorr_seeds.json
.venv/bin/python -m neuronlab crossmodel $S/base.h5 $S/seed1.h5 $S/seed2.h5 --method cka --no-write-back --json > $S/cka.json
echo done
