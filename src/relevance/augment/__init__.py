"""The augment wing: rows added to training for languages missing from it. Translation
augmentation (translate), semantic hard negatives (negatives), the English pivot of every
query (pivot), and the assembled training table (assemble)."""
