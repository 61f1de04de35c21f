"""The evaluate wing: F1 and AUC at the task threshold (metrics, evaluate), submission
files, the mean F1 over tasks (overall) and the run report with its figures."""
