"""The bundled sample dataset: SYNTHETIC rows in the CIKM AnalytiCup 2025 format.

Nothing here comes from the competition data. A small product catalogue written by hand
in this module (17 top-level categories, 98 leaf category paths, each product term,
colour, material and size word in 13 languages) is turned into queries, category paths
and item titles by templates, with a seeded random generator.

What it imitates, so that every pipeline stage has realistic work to do:

- the file format: ``{train,dev,test}_{QC,QI}.txt`` JSON lines with the competition's
  keys in its order, labels as ints or (5%) the strings "0"/"1", dev labels in a separate
  ``dev_labels_{QC,QI}.txt``, no labels for test;
- the languages per task and split (dev/test carry languages train lacks; Vietnamese
  is coded ``vn``) and the positive share (about 65%, per language);
- category paths: lower-case English, levels joined by "," without a space, depth 2-4,
  level names that contain ", " themselves and full-width notes ("(deactivate)" in
  full-width brackets, as the real data has them);
- queries in the row's language with typos, code-mixing, brand+model-only queries,
  stray whitespace and NFD-decomposed accents; item titles in the row's language mixed
  with Latin brand and model names;
- hard negatives (sibling categories; items with the wrong colour, size, material or
  model; an accessory instead of the product) beside easy ones;
- train-only label noise (about 3% flipped, unrecorded), repeated (query, candidate)
  pairs (some with conflicting labels) and a few QI rows with a missing title (null).

What it does not imitate: the real query distribution (the real data is a long tail of
fandom, slang and one-word queries), the real taxonomy (thousands of leaves, depth up
to 5), the judgement of real annotators, or natural sentence structure (titles and
queries are template-built). Models trained on it learn the templates, not the task:
use it to test the pipeline, never to judge model quality.

Speed: pure Python, about 40k rows per CPU second. Competition-sized data (300k QC +
340k QI train rows) took 16 s of CPU here (26 s wall, the 2 cores shared with other
jobs); see ``write_sample``.
"""
