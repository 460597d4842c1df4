"""The project's deliberate mistakes: each one edit to a reference solution.

Tests check that each loses points in the category that names it; ``nox -s calibrate``
trains them to show how far below each accuracy threshold a wrong model lands.

Usage: ``source = MISTAKES[0].apply(reference_folder)``
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mistake:
    lab: str
    name: str
    before: str
    after: str
    fails: frozenset[str]
    may_also_fail: frozenset[str] = frozenset({"accuracy"})

    def apply(self, reference: Path) -> str:
        """The lab's reference module with this mistake made in it."""
        source = (reference / f"{self.lab}.py").read_text(encoding="utf-8")
        if source.count(self.before) != 1:
            raise ValueError(f"{self.name}: the edit no longer matches reference/{self.lab}.py")
        return source.replace(self.before, self.after)


def mistake(lab, name, before, after, fails, may_also_fail=("accuracy",)):
    return Mistake(lab, name, before, after, frozenset(fails), frozenset(may_also_fail))


MISTAKES = (
    mistake(
        "cv1_mnist_intro",
        "no normalisation",
        "return images / 255.0",
        "return images.astype('float32')",
        {"preprocess"},
        (),
    ),
    mistake(
        "cv1_mnist_intro",
        "non-finite training",
        'optimizer="adam"',
        "optimizer=keras.optimizers.Adam(learning_rate=1e30)",
        {"training", "accuracy"},
    ),
    mistake(
        "cv1_mnist_intro",
        "compile_model forgets to return",
        'metrics=["accuracy"],\n    )\n    return model',
        'metrics=["accuracy"],\n    )',
        {"compile", "training", "accuracy"},
    ),
    mistake(
        "cv2_fashion_mnist_intro",
        "class name as title, not x-label",
        "plt.xlabel(class_names[labels[i]])",
        "plt.title(class_names[labels[i]])",
        {"plot"},
        (),
    ),
    mistake(
        "cv2_fashion_mnist_intro",
        "extra Dropout layer",
        'layers.Dense(128, activation="relu"),',
        'layers.Dense(128, activation="relu"),\n            layers.Dropout(0.2),',
        {"structure", "shapes"},
    ),
    mistake(
        "cv2_fashion_mnist_intro",
        "class names out of order",
        '"Sneaker",\n    "Bag",',
        '"Bag",\n    "Sneaker",',
        {"plot"},
        (),
    ),
    mistake(
        "cv3_mnist_cnn",
        "padding='same'",
        'layers.Conv2D(32, (3, 3), activation="relu")',
        'layers.Conv2D(32, (3, 3), activation="relu", padding="same")',
        {"shapes", "params"},
    ),
    mistake(
        "cv3_mnist_cnn",
        "missing second pooling",
        'layers.Conv2D(64, (3, 3), activation="relu"),\n            layers.MaxPooling2D((2, 2)),',
        'layers.Conv2D(64, (3, 3), activation="relu"),',
        {"structure", "shapes", "params"},
    ),
    mistake(
        "cv3_mnist_cnn",
        "sigmoid in the hidden dense layer",
        'layers.Dense(64, activation="relu")',
        'layers.Dense(64, activation="sigmoid")',
        {"structure"},
    ),
    mistake(
        "cv4_cifar_cnn",
        "wrong filter count",
        'layers.Conv2D(32, (3, 3), activation="relu")',
        'layers.Conv2D(16, (3, 3), activation="relu")',
        {"shapes", "params"},
    ),
    mistake(
        "cv4_cifar_cnn",
        "softmax output with from_logits=True (as in the seed)",
        "            layers.Dense(10),\n",
        '            layers.Dense(10, activation="softmax"),\n',
        {"compile"},
        ("accuracy", "training"),
    ),
    mistake(
        "cv4_cifar_cnn",
        "history plot without a legend",
        "    plt.legend()\n",
        "",
        {"plot"},
        (),
    ),
    mistake(
        "cv4_cifar_cnn",
        "keras.metrics.Accuracy instead of 'accuracy'",
        'metrics=["accuracy"]',
        "metrics=[keras.metrics.Accuracy()]",
        {"compile"},
        (),
    ),
    mistake(
        "cv4_cifar_cnn",
        "ylim of the slides hides the first epoch",
        '    plt.ylabel("Accuracy")\n',
        '    plt.ylabel("Accuracy")\n    plt.ylim([0.5, 1])\n',
        {"plot"},
        (),
    ),
)
