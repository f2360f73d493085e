#!/usr/bin/env bash
# Re-trains the default models in models/ from the real data (CPU) and exports them. Checkpoints and
# logs go to runs/. EUROSAT=eurosat_all (default) is the recipe of the shipped models: the 200 EuroSAT
# patches in data/ plus the 269 distinct extra patches of ../shared/data/eurosat_ms_extra (a clone
# without ../shared trains on the 200 and says so), classifiers with the same number of optimiser
# steps as on 200, and the RGB classifier's cross-sensor recipe (classifier_rgb_sensor.yaml). MoCo
# (moco_eurosat_small.yaml) pre-trains on the EuroSAT training patches, SSL4EO and the multi-date
# scenes of ../shared/data/multitemporal with temporal positives (a clone without them: EuroSAT +
# the shipped SSL4EO patches, said so). EUROSAT=eurosat is the previous release's recipe (the 200
# patches only, MoCo on them alone, layer_statistics RGB radiometry).
# The S2 classifier comes from a second MoCo run, the previous recipe (geography-aware moco_geo_tp on the
# EuroSAT training patches only): fine-tuned from the multi-date run it was worse on validation
# (models/README.md), so each model keeps the MoCo that validated best.
# The imported encoders galileo_nano_encoder.onnx and presto_encoder.onnx are not trained: they are
# converted from their authors' released weights in ../shared/pretrained (python -m trainer import).
# Usage:
#   bash scripts/train_default_models.sh            # writes models/*.onnx
#   MODELS_DIR=/tmp/m bash scripts/train_default_models.sh
#   MOCO_CHECKPOINT=runs/x/last.ckpt bash scripts/train_default_models.sh   # reuse a finished multi-date MoCo run
#   EUROSAT=eurosat bash scripts/train_default_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS_DIR=${MODELS_DIR:-models}
PY=.venv/bin/python
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$MODELS_DIR"
step() { echo; echo "[train] $*"; }
trainer() { "$PY" -m trainer "$@"; }
start=$(date +%s)
MOCO=${MOCO_CHECKPOINT:-runs/moco_eurosat_small/checkpoints/last.ckpt}
MOCO_S2=$MOCO  # the MoCo of the S2 classifier
ENCODER_NAME="MoCo-v2 geo image encoder (EuroSAT, 13 bands)"
EUROSAT=${EUROSAT:-eurosat_all}
SHARED=${GEOSSL_SHARED_DATA:-../shared/data}
CLS_EPOCHS=80 RGB_RECIPE=()
# previous release: geography-aware MoCo with temporal positives (none in this data) on the 200 patches
MOCO_RECIPE=(--data.sources "[eurosat]" --trainer.max_epochs 60 --trainer.max_steps -1 --model.variant moco_geo_tp)
if [ "$EUROSAT" = eurosat_all ]; then
  RGB_RECIPE=(--config trainer/configs/classifier_rgb_sensor.yaml)
  MOCO_RECIPE=()  # the config: plain MoCo-v2 on eurosat_all, ssl4eo, multitemporal (docs/results/temporal_positives.md)
  MOCO_S2=runs/moco_eurosat_geo/checkpoints/last.ckpt
  ENCODER_NAME="MoCo-v2 image encoder (EuroSAT, SSL4EO, multi-date scenes; 13 bands)"
  # 281 instead of 120 training patches: the same classifier optimiser steps (80 x 4)
  if [ -f "$SHARED/eurosat_ms_extra/index.csv" ]; then CLS_EPOCHS=36; fi
  if [ ! -d "$SHARED/multitemporal" ]; then
    echo "[train] no $SHARED/multitemporal: MoCo pre-trains on EuroSAT + the shipped SSL4EO patches only"
    MOCO_RECIPE=(--data.sources "[eurosat_all, ssl4eo]")
    ENCODER_NAME="MoCo-v2 image encoder (EuroSAT, SSL4EO; 13 bands)"
  fi
fi

if [ -n "${MOCO_CHECKPOINT:-}" ]; then
  step "1/6 MoCo: reusing $MOCO_CHECKPOINT"
else
  step "1/6 MoCo-v2 image encoder (13 bands), self-supervised"
  trainer moco fit --config trainer/configs/moco_eurosat_small.yaml "${MOCO_RECIPE[@]}"
fi
if [ "$MOCO_S2" != "$MOCO" ]; then
  step "1/6 geography-aware MoCo-v2 (+Geo) on the EuroSAT training patches (S2 classifier)"
  trainer moco fit --config trainer/configs/moco_eurosat_small.yaml --data.sources "[$EUROSAT]" \
    --model.variant moco_geo_tp --trainer.max_steps -1 --trainer.max_epochs 27 \
    --trainer.default_root_dir runs/moco_eurosat_geo
fi
step "2/6 13-band Sentinel-2 classifier (MoCo init, fine-tuned)"
trainer moco finetune --config trainer/configs/classifier_eurosat_s2.yaml --model.moco_checkpoint "$MOCO_S2" \
  --data.sources "[$EUROSAT]" --trainer.max_epochs "$CLS_EPOCHS"
step "3/6 RGB classifier (MoCo init, radiometric augmentation${RGB_RECIPE:+, 10-30 m GSD augmentation, percentile radiometry})"
trainer moco finetune --config trainer/configs/classifier_eurosat_rgb.yaml "${RGB_RECIPE[@]}" \
  --model.moco_checkpoint "$MOCO" --data.sources "[$EUROSAT]" --trainer.max_epochs "$CLS_EPOCHS"
step "4/6 CSP-MC-BLD location encoder on EuroSAT + SSL4EO image-location pairs"
# ~180 pairs cannot constrain sub-degree scales: coarse scales (10-360 deg, 16 frequencies) give a
# smooth embedding map; the few-label table in docs/results uses the paper's 0.1-360 deg.
trainer csp fit --config trainer/configs/csp_eurosat.yaml --data.sources "[$EUROSAT, ssl4eo]" \
  --model.encoder_params.min_radius 10.0 --model.encoder_params.frequency_num 16
# The priors train until their validation log-loss stops improving, then keep the learned prior, a kNN prior
# (the labelled points in the graph) or a hybrid, whichever has the lowest validation log-loss (the choice is
# stored in the model: training.prior_recipe; docs/results/location_priors.md).
step "5/6 EuroSAT location prior (from the CSP encoder; learned, kNN or hybrid chosen on validation)"
trainer prior --config trainer/configs/prior_eurosat.yaml --data.source "$EUROSAT" \
  --model.csp_checkpoint runs/csp_eurosat/checkpoints/last.ckpt
step "6/6 world continent prior (GeoNames cities; learned, kNN or hybrid chosen on validation)"
trainer prior --config trainer/configs/prior_continents.yaml

step "exporting to $MODELS_DIR/"
trainer export --checkpoint runs/classifier_eurosat_s2/final.ckpt --kind image_classifier \
  --name "EuroSAT Sentinel-2 13-band classifier" --out "$MODELS_DIR/eurosat_s2.onnx"
trainer export --checkpoint runs/classifier_eurosat_rgb/final.ckpt --kind image_classifier \
  --name "EuroSAT RGB classifier" --out "$MODELS_DIR/eurosat_rgb.onnx"
trainer export --checkpoint "$MOCO" --kind image_encoder \
  --name "$ENCODER_NAME" --out "$MODELS_DIR/moco_eurosat_encoder.onnx"
trainer export --checkpoint runs/csp_eurosat/checkpoints/last.ckpt --kind location_encoder \
  --name "CSP location encoder (EuroSAT + SSL4EO)" --out "$MODELS_DIR/csp_location_encoder.onnx"
trainer export --checkpoint runs/prior_eurosat/final.ckpt --kind location_prior \
  --name "EuroSAT land-use location prior" --out "$MODELS_DIR/eurosat_prior.onnx"
trainer export --checkpoint runs/prior_continents/final.ckpt --kind location_prior \
  --name "World continent prior (GeoNames cities)" --out "$MODELS_DIR/world_continent_prior.onnx"
step "importing the released Presto and Galileo nano encoders (../shared/pretrained; no training)"
trainer import galileo --out "$MODELS_DIR/galileo_nano_encoder.onnx"
trainer import presto --out "$MODELS_DIR/presto_encoder.onnx"
[ "$MODELS_DIR" -ef models ] || cp models/LICENSE_presto_galileo.txt "$MODELS_DIR/"
step "choosing the EuroSAT prior's fusion exponent α on the validation split (RGB classifier)"
trainer prior-exponent --prior "$MODELS_DIR/eurosat_prior.onnx" --image_model "$MODELS_DIR/eurosat_rgb.onnx" \
  --source "$EUROSAT"
trainer inspect "$MODELS_DIR"/*.onnx
echo "[train] default models trained and exported in $(( $(date +%s) - start )) s"
