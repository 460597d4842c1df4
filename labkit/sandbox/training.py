"""The grader's own deterministic training run, used by the training and accuracy checks.

Usage: ``result = training.train(compiled_path, lab)``
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit.sandbox import screen
from labkit.spec import datasets
from labkit.spec.lab import Lab

THREADS = 2  # fixed, so that float reductions split the same way on every machine
EVAL_BATCH = 500
# Batches per call into the traced training step: the same updates in the same order, with
# less of Keras' per-step Python overhead (a small CNN on 32x32 images fits about 15% faster
# on 2 cores).
STEPS_PER_EXECUTION = 16
INITIAL_LOSS_SAMPLE = 1000  # enough to tell a falling loss from chance level


@dataclass(frozen=True)
class TrainingResult:
    initial_loss: float = math.nan
    losses: list[float] = field(default_factory=list)
    accuracy: float = math.nan
    error: str = ""  # the submitted model could not be trained: the submission's fault
    # The grader's own run failed for a reason that is not the submission's: regrade.
    grader_error: str = ""
    # Set by a limit that ended the run (CPU time, memory): a verdict of this machine's limits,
    # not of the training run itself, so it is never kept for a later grade.
    limited: bool = False
    fit_seconds: float = 0.0  # model.fit alone, first-epoch tracing included
    fit_cpu_seconds: float = 0.0  # the same, in CPU time of all the process's threads
    epoch_seconds: list[float] = field(default_factory=list)  # each epoch's steps alone
    accuracies: list[float] = field(default_factory=list)  # on the test subset, per epoch
    confusion: list[list[int]] = field(default_factory=list)  # [true class][predicted class]
    # On the next test_size test images, which no visible check uses: for hidden checks.
    holdout_accuracy: float = math.nan
    holdout_size: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TrainingResult:
        """The result ``to_json`` wrote; fields it does not know are left out."""
        found = json.loads(text)
        names = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: found[key] for key in names if key in found})


def make_deterministic() -> None:
    """Pin TensorFlow's threads and make its ops deterministic; call before TensorFlow runs."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # TensorFlow already started in this process; its first settings stay


def subset(lab: Lab) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lab's fixed training and test subsets, preprocessed the way the lab specifies."""
    (x_train, y_train), (x_test, y_test) = datasets.load(lab.dataset)
    recipe = lab.training
    return (
        lab.expected_preprocess(x_train[: recipe.train_size]),
        y_train[: recipe.train_size].reshape(-1).astype(np.int64),
        lab.expected_preprocess(x_test[: recipe.test_size]),
        y_test[: recipe.test_size].reshape(-1).astype(np.int64),
    )


def holdout(lab: Lab) -> tuple[np.ndarray, np.ndarray]:
    """The test images after the lab's test subset, as many again: disjoint from it."""
    _, (x_test, y_test) = datasets.load(lab.dataset)
    kept = slice(lab.training.test_size, 2 * lab.training.test_size)
    return lab.expected_preprocess(x_test[kept]), y_test[kept].reshape(-1).astype(np.int64)


def train(
    compiled_path: Path, lab: Lab, seed: int | None = None, verbose: int = 2
) -> TrainingResult:
    """Train a fresh copy of the submitted model with its own compile settings; never raises."""
    import keras

    seed = lab.training.seed if seed is None else seed
    try:
        with warnings.catch_warnings():
            # Keras warns that the saved optimizer has no slots yet; a fresh one is built below.
            warnings.simplefilter("ignore", UserWarning)
            submitted = keras.saving.load_model(compiled_path, compile=True, safe_mode=True)
        uncompiled = screen.load(compiled_path)
        keras.utils.set_random_seed(seed)
        # A fresh copy: weights from the grader's seed, not whatever build_model left behind,
        # and no metrics, since the grader measures accuracy itself.
        model = keras.models.clone_model(uncompiled)
        model.compile(
            optimizer=type(submitted.optimizer).from_config(submitted.optimizer.get_config()),
            loss=submitted.loss,
            steps_per_execution=STEPS_PER_EXECUTION,
        )
    except Exception as error:
        return TrainingResult(error=_summary(error))
    return _fit(model, submitted.loss, lab, seed, verbose)


def _fit(model: Any, loss: Any, lab: Lab, seed: int, verbose: int) -> TrainingResult:
    import keras

    x_train, y_train, x_test, y_test = subset(lab)
    recipe = lab.training
    try:
        # Forward passes run eagerly: tracing evaluate() and predict() would cost more than
        # the passes themselves on these small subsets.
        sample = slice(0, INITIAL_LOSS_SAMPLE)
        initial = _mean_loss(loss, y_train[sample], _outputs(model, x_train[sample]))
        keras.utils.set_random_seed(seed)
        accuracies: list[float] = []
        epoch_seconds: list[float] = []

        def before_epoch(epoch: int, logs: Any) -> None:
            epoch_seconds.append(-time.perf_counter())

        def after_epoch(epoch: int, logs: Any) -> None:
            epoch_seconds[-1] += time.perf_counter()
            if epoch + 1 < recipe.epochs:  # the last one is the final evaluation below
                accuracies.append(_accuracy(model, x_test, y_test))

        started, cpu_started = time.perf_counter(), time.process_time()
        history = model.fit(
            x_train,
            y_train,
            epochs=recipe.epochs,
            batch_size=recipe.batch_size,
            verbose=verbose,
            callbacks=[
                keras.callbacks.LambdaCallback(
                    on_epoch_begin=before_epoch, on_epoch_end=after_epoch
                )
            ],
        )
        fit_seconds = time.perf_counter() - started
        fit_cpu_seconds = time.process_time() - cpu_started
        predicted = np.argmax(_outputs(model, x_test), axis=-1)
        x_holdout, y_holdout = holdout(lab)
        kept_back = _accuracy(model, x_holdout, y_holdout) if len(y_holdout) else math.nan
    except Exception as error:
        return TrainingResult(error=_summary(error))
    accuracy = float(np.mean(predicted == y_test))
    losses = [float(loss) for loss in history.history["loss"]]
    classes = lab.layers[-1].output_shape[-1]
    return TrainingResult(
        initial,
        losses,
        accuracy,
        fit_seconds=fit_seconds,
        fit_cpu_seconds=fit_cpu_seconds,
        epoch_seconds=epoch_seconds,
        accuracies=[*accuracies, accuracy],
        confusion=_confusion(y_test, predicted, classes),
        holdout_accuracy=kept_back,
        holdout_size=len(y_holdout),
    )


def _confusion(labels: np.ndarray, predicted: np.ndarray, classes: int) -> list[list[int]]:
    pairs = labels.clip(0, classes - 1) * classes + predicted.clip(0, classes - 1)
    counts = np.bincount(pairs, minlength=classes * classes)
    return counts.reshape(classes, classes).tolist()


def _accuracy(model: Any, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(_outputs(model, images), axis=-1) == labels))


def _outputs(model: Any, images: np.ndarray) -> np.ndarray:
    batches = [
        np.asarray(model(images[start : start + EVAL_BATCH], training=False))
        for start in range(0, len(images), EVAL_BATCH)
    ]
    return np.concatenate(batches)


def _mean_loss(loss: Any, labels: np.ndarray, outputs: np.ndarray) -> float:
    import keras

    function = keras.losses.get(loss) if isinstance(loss, str | dict) else loss
    return float(np.mean(np.asarray(function(labels, outputs))))


def _summary(error: BaseException) -> str:
    """One line of an error: TensorFlow's message ends with the cause, after its own stack."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("[[", "File "))]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"[:400]


def train_in_child(request: dict[str, Any]) -> None:
    """A training child's side (``labkit.sandbox.trainer``): train, then write the result."""
    make_deterministic()
    result = train(Path(request["compiled"]), Lab.from_json(request["lab"]), verbose=0)
    Path(request["result"]).write_text(result.to_json(), encoding="utf-8")
