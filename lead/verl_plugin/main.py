"""``lead-train``: verl's ``main_ppo`` with the project's Hydra config (``lead_trainer.yaml``).

``lead-train <hydra overrides>`` validates the estimator's knobs, then hands the composed
config to verl's own main (device selection, ``validate_config``, Ray, ``TaskRunnerV1``).
With ``DRY_RUN=1`` in the environment it stops after validation (verl's checks included),
prints the resolved configuration and exits: a CPU machine can check a GPU run's config.
"""

from __future__ import annotations

import os

import hydra
from omegaconf import DictConfig, OmegaConf

import lead.verl_plugin.plugin  # noqa: F401 - registers the estimators even when verl skips plugins
from lead.verl_plugin.algo_config import validate_run_config


def check_config(config: DictConfig) -> None:
    """Every check a run does before starting Ray: ours, then verl's ``validate_config``."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_run_config(config)
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))


@hydra.main(config_path="config", config_name="lead_trainer", version_base=None)
def main(config: DictConfig) -> None:
    if os.environ.get("DRY_RUN", "0") not in ("", "0"):
        check_config(config)
        print(OmegaConf.to_yaml(config, resolve=True))
        print("DRY_RUN: configuration is valid; not starting Ray.")
        return
    validate_run_config(config)
    from verl.trainer.main_ppo import main as verl_main

    verl_main.__wrapped__(config)


if __name__ == "__main__":
    main()
