"""The folds wing: models trained on some folds and scoring the others.

- :mod:`~relevance.folds.plan`: which rows each fold model trains on and scores
  (:func:`~relevance.folds.plan.oof_plan`), the trainer they are handed, the
  out-of-fold table.
- :mod:`~relevance.folds.training`: the LoRA fold trainer; only the selfval and cv
  stage scripts import it, so nothing else depends on the training code.
- :mod:`~relevance.folds.selfval`: ``selfval@<task>``, filter models flag likely label
  errors (confident learning, :func:`~relevance.folds.selfval.find_label_issues`).
- :mod:`~relevance.folds.filter`: ``filter@<task>``, the flagged rows removed or
  relabelled, matched by id.
- :mod:`~relevance.folds.cv`: ``cv@<task>``, fold models kept for ensembles and
  their CV F1 (:func:`~relevance.evaluate.metrics.cv_report`).
"""
