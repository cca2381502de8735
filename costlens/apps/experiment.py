"""A real, small transfer-learning experiment on the CPU (used by ``costlens demo``).

A small CNN learns scikit-learn's bundled handwritten digits 0-4 (the source task, from scratch).
The target task is digits 5-9: the same network is brought to a target accuracy from scratch, by
full fine-tuning of the source model, and by training only a new head on its frozen features
(computed once, as practitioners do), each with several labelled-data budgets and network
widths. Each cell (width x labels x strategy) is repeated ``repeats`` times with its own seed
(initialisation and batch order). Every training is a real run recorded by
:func:`costlens.profile`; nothing here is simulated.

Timing basis: torch runs on ONE thread during the experiment, and each run logs ``train_cpu_s``,
the CPU time of that training thread (``time.thread_time``) over its training. Other processes
on the machine slow the wall clock, not this figure (see docs/demo.md for its measured noise).

Imports torch (this is training code, on the hot-path side of the house).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

PROJECT = "digits-transfer"
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
# Labelled target samples per class (5 classes): 10, 40 and 120 labels a class.
BUDGETS_PER_CLASS = (10, 40, 120)
WIDTHS = (2, 4)  # width 8 was 60% of the CPU time: with repeats it broke the 3-minute demo
EXPERIMENT_STRATEGIES = ("scratch", "full-finetune", "frozen-features")  # what the demo runs
SOURCE_TASK = "digits 0-4"  # the task each width is pretrained on (logged as metric "task")
TARGET_TASK = "digits 5-9"


@dataclass(frozen=True)
class ExperimentConfig:
    target_accuracy: float = 0.95
    max_epochs: int = 40
    batch_size: int = 32
    budgets_per_class: tuple[int, ...] = BUDGETS_PER_CLASS
    widths: tuple[int, ...] = WIDTHS
    strategies: tuple[str, ...] = EXPERIMENT_STRATEGIES
    source_epochs: int = 10
    seed: int = 0
    lr: float = 1e-3
    head_lr: float = 1e-2  # frozen features: only a linear head trains, a larger rate is usual
    repeats: int = 5  # runs per cell, each with its own seed: the spread gives the interval

    @classmethod
    def quick(cls) -> ExperimentConfig:
        """The smallest experiment that still has every strategy (``costlens demo --quick``,
        the tests): one width, two budgets, a few epochs. Its runs rarely reach the target."""
        return cls(
            widths=(2,), budgets_per_class=(10, 40), max_epochs=3, source_epochs=2, repeats=3
        )

    @property
    def target(self) -> str:
        """The experiment's declared quality target, as ``--target`` spells it."""
        return f"accuracy>={self.target_accuracy:g}"

    def run_seed(self, repeat: int) -> int:
        """The seed of a cell's ``repeat``-th run (the same in every experiment)."""
        return self.seed + 1000 * (repeat + 1)


@dataclass
class RunOutcome:
    run_id: str | None
    name: str
    strategy: str
    width: int
    labelled_samples: int
    epochs: int
    accuracy: float
    reached_target: bool
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)


def _data(seed: int):
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)  # N,1,8,8
    y = torch.tensor(digits.target, dtype=torch.long)
    rng = np.random.default_rng(seed)

    def split(classes: tuple[int, ...]):
        idx = np.flatnonzero(np.isin(digits.target, classes))
        rng.shuffle(idx)
        n_test = len(idx) // 4
        test, train = idx[:n_test], idx[n_test:]
        yy = y - min(classes)  # classes are consecutive digits: 0-4 or 5-9 -> 0-4
        return (x[train], yy[train]), (x[test], yy[test])

    return split(SOURCE_CLASSES), split(TARGET_CLASSES)


def make_model(width: int, n_classes: int = 5):
    """Conv(16w) -> Conv(32w) -> Linear(64w) backbone and a linear head (``model.head``)."""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c1, c2, h = 16 * width, 32 * width, 64 * width
            self.features = nn.Sequential(
                nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(),
                nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(c2 * 16, h), nn.ReLU(),
            )  # fmt: skip
            self.head = nn.Linear(h, n_classes)

        def forward(self, x):
            return self.head(self.features(x))

    return Net()


def _per_class_subset(x, y, per_class: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in range(int(y.max()) + 1):
        idx = torch.nonzero(y == c).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    sel = torch.cat(keep)
    return x[sel], y[sel]


def _accuracy(model, x, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    model.train()
    return acc


def train_to_target(
    model,
    train,
    test,
    cfg: ExperimentConfig,
    *,
    max_epochs: int,
    target: float | None,
    lr: float | None = None,
    seed: int | None = None,
    on_eval: Callable[[int, float], None] | None = None,
) -> tuple[int, float]:
    """Adam on the trainable parameters until test accuracy >= ``target`` (or ``max_epochs``);
    ``on_eval(step, accuracy)`` after each epoch's evaluation (step: optimizer steps so far)."""
    import torch
    import torch.nn.functional as F

    x, y = train
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr or cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed if seed is None else seed)
    acc, step = 0.0, 0
    for epoch in range(1, max_epochs + 1):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), cfg.batch_size):
            b = order[i : i + cfg.batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
            step += 1
        acc = _accuracy(model, *test)
        if on_eval is not None:
            on_eval(step, acc)
        if target is not None and acc >= target:
            return epoch, acc
    return max_epochs, acc


def plan(cfg: ExperimentConfig) -> list[tuple[str, str, int, int, int]]:
    """(name, strategy, width, labelled samples per class, repeat) for every target-task run,
    repeats of a cell interleaved with the other cells (a slow spell of the machine then falls
    on several cells, not on every repeat of one)."""
    return [
        (
            f"{strategy} w{width} {per_class * len(TARGET_CLASSES)} labels #{repeat + 1}",
            strategy,
            width,
            per_class,
            repeat,
        )
        for repeat in range(cfg.repeats)
        for width in cfg.widths
        for per_class in cfg.budgets_per_class
        for strategy in cfg.strategies
    ]


def _pretrain(
    width: int, data, cfg: ExperimentConfig, db, sample_interval_s: float, quiet: bool = False
):
    """Train one width on the source task from scratch, recorded; (model, outcome)."""
    import costlens

    (train, test) = data
    name = f"pretrain w{width} digits 0-4"
    model = make_model(width)
    t0 = time.perf_counter()
    with costlens.profile(
        project=PROJECT,
        name=name,
        strategy="scratch",
        db=db,
        tags=["source-task", f"width={width}"],
        sample_interval_s=sample_interval_s,
        quiet=quiet,
    ) as run:
        cpu0 = time.thread_time()
        epochs, acc = train_to_target(
            model, train, test, cfg, max_epochs=cfg.source_epochs, target=None,
            on_eval=lambda step, a: run.log(accuracy=a, step=step),
        )  # fmt: skip
        train_cpu_s = time.thread_time() - cpu0
        run.log(
            accuracy=acc,
            epochs=epochs,
            labelled_samples=len(train[0]),
            task=SOURCE_TASK,
            width=width,
            train_cpu_s=train_cpu_s,
        )
    outcome = RunOutcome(
        run.id, name, "scratch", width, len(train[0]), epochs, acc, True,
        time.perf_counter() - t0, {"task": "source", "train_cpu_s": train_cpu_s},
    )  # fmt: skip
    return model, outcome


def _train_job(model, strategy: str, train, test, cfg: ExperimentConfig, seed: int, on_eval=None):
    """Train one target run; frozen features: the backbone's features are computed once and
    only the head trains on them. (epochs, test accuracy)."""
    import torch

    lr, max_epochs, target = cfg.lr, cfg.max_epochs, cfg.target_accuracy
    if strategy != "frozen-features":
        return train_to_target(model, train, test, cfg, lr=lr, max_epochs=max_epochs,
                               target=target, seed=seed, on_eval=on_eval)  # fmt: skip
    model.features.eval()
    with torch.no_grad():
        train = (model.features(train[0]), train[1])
        test = (model.features(test[0]), test[1])
    return train_to_target(model.head, train, test, cfg, lr=cfg.head_lr, max_epochs=max_epochs,
                           target=target, seed=seed, on_eval=on_eval)  # fmt: skip


def _target_run(
    job: tuple[str, str, int, int, int], pretrained, data, cfg: ExperimentConfig, db,
    sample_interval_s: float, quiet: bool = False,
) -> RunOutcome:  # fmt: skip
    """One recorded target-task run: scratch, full fine-tune or frozen features."""
    import torch

    import costlens

    name, strategy, width, per_class, repeat = job
    (tgt_train, tgt_test) = data
    x, y = _per_class_subset(*tgt_train, per_class, cfg.seed)  # one labelled set per budget
    seed = cfg.run_seed(repeat)
    torch.manual_seed(seed)  # this repeat's initialisation (scratch) or new head
    if strategy == "scratch":
        model, base = make_model(width), None
    else:
        model, base = copy.deepcopy(pretrained), f"digits-0-4-cnn-w{width}"
        model.head.reset_parameters()  # new task, new head
        if strategy == "frozen-features":
            for p in model.features.parameters():
                p.requires_grad_(False)
    t0 = time.perf_counter()
    with costlens.profile(
        project=PROJECT,
        name=name,
        strategy=strategy,
        base_model=base,
        db=db,
        tags=[f"width={width}", f"labels={len(x)}", f"repeat={repeat + 1}"],
        sample_interval_s=sample_interval_s,
        quiet=quiet,
    ) as run:
        cpu0 = time.thread_time()
        series = lambda step, a: run.log(accuracy=a, step=step)  # noqa: E731
        epochs, acc = _train_job(model, strategy, (x, y), tgt_test, cfg, seed, on_eval=series)
        train_cpu_s = time.thread_time() - cpu0
        reached = acc >= cfg.target_accuracy
        run.log(
            accuracy=acc,
            epochs=epochs,
            labelled_samples=len(x),
            reached_target=reached,
            target_accuracy=cfg.target_accuracy,
            task=TARGET_TASK,
            width=width,
            repeat=repeat + 1,
            seed=seed,
            train_cpu_s=train_cpu_s,
        )
    return RunOutcome(
        run.id, name, strategy, width, len(x), epochs, acc, reached, time.perf_counter() - t0,
        {"train_cpu_s": train_cpu_s},
    )  # fmt: skip


def run_experiment(
    cfg: ExperimentConfig = ExperimentConfig(),
    *,
    db: str | None = None,
    progress: Callable[[str], None] | None = None,
    sample_interval_s: float = 1.0,
    quiet: bool = False,
) -> Iterator[RunOutcome]:
    """Pretrain each width on the source task, then every target run; yields as runs finish
    (``quiet``: no live line or summary of each run).

    torch runs on one thread meanwhile (restored after), so the training thread's CPU time is
    the whole training's (the timing basis, see the module docstring)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        source, target = _data(cfg.seed)
        say = progress or (lambda _msg: None)
        pretrained: dict[int, Any] = {}
        for width in cfg.widths:
            say(f"pretrain w{width} digits 0-4")
            torch.manual_seed(cfg.seed)
            pretrained[width], outcome = _pretrain(width, source, cfg, db, sample_interval_s, quiet)
            yield outcome
        for job in plan(cfg):
            say(job[0])
            yield _target_run(job, pretrained[job[2]], target, cfg, db, sample_interval_s, quiet)
    finally:
        torch.set_num_threads(threads)
