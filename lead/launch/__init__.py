"""Launching training runs: ``lead launch`` and the launch scripts that call it.

* :mod:`lead.launch.environment`: the environment variables (BUDGET, N_GPUS, DEVICE, ...) and ``.env``;
* :mod:`lead.launch.plan`: the runs a script asks for, the paper tables' sweeps;
* :mod:`lead.launch.check`: composing and checking every run in one process, run states, resume guard;
* :mod:`lead.launch.execute`: recording each run's checked configuration and starting
  ``lead-train`` on that record, its console, logs, stopping it on a signal, and what a finished
  run prints;
* :mod:`lead.launch.processes`: finding and stopping every process of a run;
* :mod:`lead.launch.runner`: running a CPU-mode command (``lead-train``, a launch script) to its end
  and reading its console (the lab's verl trainer, the CPU tests);
* :mod:`lead.launch.cost`: a GPU run's cost from its recipe's source figures;
* :mod:`lead.launch.cli`: the command.

The recipes themselves are Hydra files, ``lead/verl_plugin/config/experiment/*.yaml``.
"""
