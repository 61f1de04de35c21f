"""The model wing: the base models (base_models), prompts and answer heads, LoRA training
(train, tapt), scoring p(yes) and predicting dev/test rows (scoring, predict)."""
