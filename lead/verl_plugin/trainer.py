"""verl v1 synchronous trainer with the hooks this package's estimators need.

Registered as ``trainer.v1.trainer_mode=lead_sync``. Compared with verl's ``sync`` trainer it

* validates the estimator's knobs in ``__init__``, before workers or models start;
* polls TransferQueue for finished rollouts every ``trainer.v1.sync.replay_poll_interval``
  seconds (verl's buffer waits 2 s, most of a step of a small model);
* hands the estimators the stable prompt ids (``extra_info.index``) when a method needs them;
* moves the estimators' per-step metrics (``lead/*``, ...) into the step's metrics, so they reach
  every configured logger;
* writes every step's metrics to ``<trainer.default_local_dir>/metrics.jsonl`` (:mod:`lead.metrics`)
  whatever the loggers, and on resume drops the lines an interrupted attempt wrote after the
  checkpoint it resumes from;
* writes the estimators' state to ``global_step_N/lead_state.json`` *before* verl writes its
  ``latest_checkpointed_iteration.txt`` marker, and restores it on resume, so a resumed run
  computes exactly the advantages an uninterrupted run would.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from typing import Any

import transfer_queue as tq
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from lead.core.methods import get_method
from lead.metrics import MetricsFile
from lead.verl_plugin.algo_config import validate_run_config
from lead.verl_plugin.estimators import STORE, is_lead_estimator

logger = logging.getLogger(__name__)

STATE_FILE = "lead_state.json"
STATE_VERSION = 1


@register_trainer("lead_sync")
class LeadTrainerSync(PPOTrainerSync):
    """``PPOTrainerSync`` plus metrics, prompt ids and checkpointed estimator state."""

    # verl compares ``self.trainer_mode`` with "sync" in several places (replay buffer, refill,
    # checkpointing of TransferQueue); a subclass must read as "sync" there or it silently takes
    # the asynchronous branches.
    @property
    def trainer_mode(self) -> str:
        return "sync"

    @trainer_mode.setter
    def trainer_mode(self, _: Any) -> None:
        pass

    def __init__(self, config: Any) -> None:
        validate_run_config(config)
        poll = replay_poll_interval(config)
        super().__init__(config)
        self.replay_buffer.poll_interval = poll

    @property
    def metrics_file(self) -> MetricsFile:
        if "_metrics_file" not in self.__dict__:
            self.__dict__["_metrics_file"] = MetricsFile(run_folder(self.config))
        return self.__dict__["_metrics_file"]

    # verl builds its Tracking logger in fit() and logs every step's metrics through it: wrapped
    # here, each logged step also lands in metrics.jsonl.
    @property
    def logger(self) -> Any:
        return self.__dict__.get("_tracking")

    @logger.setter
    def logger(self, tracking: Any) -> None:
        self.__dict__["_tracking"] = None if tracking is None else _RecordingTracker(tracking, self.metrics_file)

    @property
    def _estimator(self) -> str | None:
        name = self.config.algorithm.adv_estimator
        return name if is_lead_estimator(name) else None

    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        name = self._estimator
        if name is not None and getattr(get_method(name), "needs_prompt_keys", False):
            rows = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["index"])
            STORE.set_prompt_keys(list(rows["index"]))
        batch = super()._compute_advantage(batch, metrics)
        metrics.update(STORE.pop_metrics())
        return batch

    def _save_checkpoint(self) -> None:
        if self._estimator is not None:
            folder = os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")
            save_estimator_state(folder, self.global_steps)
        super()._save_checkpoint()

    def _load_checkpoint(self) -> None:
        super()._load_checkpoint()
        dropped = self.metrics_file.keep_until(self.global_steps)
        if dropped:
            print(
                f"lead: {self.metrics_file.path}: dropped {dropped} step(s) after step {self.global_steps}, "
                "logged by an attempt that was interrupted after its last checkpoint",
                flush=True,
            )
        if self._estimator is None or self.global_steps == 0:
            return
        mode = self.config.trainer.resume_mode
        folder = (
            self.config.trainer.resume_from_path
            if mode == "resume_path"
            else os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")
        )
        if not os.path.isabs(folder):
            folder = os.path.join(os.getcwd(), folder)
        load_estimator_state(folder, self.config.algorithm)


class _RecordingTracker:
    """verl's ``Tracking`` that also appends each logged step to the run's metrics file."""

    def __init__(self, tracking: Any, metrics_file: MetricsFile) -> None:
        self._tracking = tracking
        self._file = metrics_file

    def log(self, data: dict, step: int, **kwargs: Any) -> None:
        self._file.log(step, data)
        self._tracking.log(data=data, step=step, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracking, name)


def run_folder(config: Any) -> str:
    """The run's folder (``trainer.default_local_dir``), absolute as verl resolves it."""
    folder = str(config.trainer.default_local_dir)
    return folder if os.path.isabs(folder) else os.path.join(os.getcwd(), folder)


def replay_poll_interval(config: Any) -> float:
    """``trainer.v1.sync.replay_poll_interval``: seconds between the replay buffer's TransferQueue
    polls (verl builds its buffer with a fixed 2 s; absent means that)."""
    value = config.trainer.v1.get("sync", {}).get("replay_poll_interval", 2.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"trainer.v1.sync.replay_poll_interval={value!r} is invalid: expected seconds > 0")
    return float(value)


def save_estimator_state(folder: str, global_step: int) -> str:
    """Write every live estimator's state to ``<folder>/lead_state.json`` atomically."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, STATE_FILE)
    payload = {"version": STATE_VERSION, "global_step": int(global_step), "methods": STORE.state_dict()}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)
    return path


def load_estimator_state(folder: str, algorithm_config: Any) -> bool:
    """Restore estimator state from ``<folder>/lead_state.json``; warns and returns False when the
    checkpoint has none (e.g. written by another trainer), in which case state starts fresh."""
    path = os.path.join(folder, STATE_FILE)
    if not os.path.exists(path):
        warnings.warn(
            f"{path} does not exist: the estimator state (e.g. LEAD's controller weights) "
            "starts fresh instead of continuing the checkpointed run",
            stacklevel=2,
        )
        return False
    with open(path) as f:
        payload = json.load(f)
    if payload.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: unsupported state version {payload.get('version')!r} (expected {STATE_VERSION})")
    STORE.load_state_dict(payload["methods"], algorithm_config)
    # On the console (the TaskRunner's output reaches the driver's), so a resumed run shows what it continues.
    print(f"lead: restored estimator state from {path}: {json.dumps(payload['methods'], sort_keys=True)}", flush=True)
    return True
