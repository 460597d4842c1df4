"""What a grading run keeps for feedback pages: the grader's training runs and the figures.

With ``--artifacts DIR``, each lab gets ``DIR/<lab>/``, holding ``training.json`` (the
grader's own run of the student's model: loss and test accuracy per epoch, and the
confusion matrix) and ``<function>.png`` for each figure the student's code drew. A figure
comes from student code, so it is decoded and drawn again by the grader before it is kept.

Usage: ``artifacts.save_training(folder, result); artifacts.load(folder)``
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.sandbox.training import TrainingResult
from labkit.spec.lab import FIGURE, Lab

TRAINING = "training.json"
MAX_PICTURE_BYTES = 8 * 2**20
MAX_PICTURE_SIDE = 4000  # pixels; a lab's figure at 72 dpi is well under 1,000


def save_training(folder: Path, result: TrainingResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TRAINING).write_text(result.to_json(), encoding="utf-8")


def save_pictures(folder: Path, lab: Lab, harvested: Path) -> None:
    """Keep each figure's PNG from the harvest, redrawn by the grader; skip what is not one."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for function in lab.api:
        source = harvested / f"{function.name}.png"
        if function.returns != FIGURE or not source.is_file():
            continue
        if source.stat().st_size > MAX_PICTURE_BYTES:
            continue
        try:
            with Image.open(source, formats=["PNG"]) as picture:
                if max(picture.size) > MAX_PICTURE_SIDE:
                    continue
                picture.convert("RGBA").save(folder / source.name, format="PNG")
        except (OSError, ValueError, Image.DecompressionBombError):
            continue


def load(folder: Path) -> dict[str, Any]:
    """What ``folder`` holds: ``training`` (a TrainingResult or None), ``pictures`` by name."""
    path = folder / TRAINING
    training = (
        TrainingResult.from_json(path.read_text(encoding="utf-8")) if path.is_file() else None
    )
    pictures = {picture.stem: picture for picture in sorted(folder.glob("*.png"))}
    return {"training": training, "pictures": pictures}
