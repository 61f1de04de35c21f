"""The folds wing: models trained on some folds and scoring the others. Self-validation
of noisy labels (selfval, filter) and cross-validation with fold ensembles (cv)."""
