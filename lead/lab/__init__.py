"""`lead lab`: LEAD and the baselines on a synthetic overthinking task, trained on a CPU in minutes."""

import os

# torch's OpenMP threads spin while they wait at a barrier. On a busy CPU (other jobs, more
# threads than free cores) a spinning thread holds the core its partner needs: warm-up steps of
# the default model took 8.4 s with 2 threads against 1.2 s with passive waiting, at load 6 on
# 2 cores. Waiting does not change the arithmetic, so results are the same either way. libgomp
# reads this once, when torch is first imported, so it is set before any lab module imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
