"""An advantage estimator that raises, for the CPU end-to-end test of error reporting.

Loaded into every verl process with ``VERL_USE_EXTERNAL_MODULES=tests.cpu_failing_estimator``,
which verl imports before its plugins: the project's plugin is imported first so the CPU
platform is registered before verl resolves it.
"""

import lead.verl_plugin.plugin  # noqa: F401

# isort: split
from verl.trainer.ppo.core_algos import register_adv_est


@register_adv_est("cpu_test_failing")
def failing_estimator(**kwargs):
    raise RuntimeError("cpu-test: estimator failed on purpose")
