"""Tools off the data path: the `relevance` CLI, PR reports, the ablation runner and the
synthetic sample generator."""
