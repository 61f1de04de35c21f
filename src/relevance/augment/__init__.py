"""The augment wing: rows added to training for languages missing from it.

One module per DVC stage, and the pieces they share:

- ``translate``: translated training rows (translate@<task>);
- ``negatives``: semantic hard negatives, their queries translated (negatives@<task>);
- ``pivot``: the English pivot of every query (pivot@<task>, ``input.pivot_en``);
- ``assemble``: original + augmented rows, the training table (assemble@<task>);
- ``translators``: the ``translator`` params, the backends and their prompts, and
  ``open_translation`` (translator + caches + embedder, as every translating stage opens them);
- ``translation_cache``: the content-keyed cache and the loop that translates through it;
- ``gate``: the quality gate every translation passes;
- ``embedding``: sentence embeddings through a content-hash cache.
"""
