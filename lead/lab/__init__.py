"""`lead lab`: LEAD and the baselines on a synthetic overthinking task, trained on a CPU in minutes."""
