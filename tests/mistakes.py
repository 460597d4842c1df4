"""The project's deliberate mistakes: each one edit to a reference solution.

Tests check that each loses points in the category that names it, for the one cause that
names the mistake (what the class summary counts); ``nox -s calibrate`` trains them to
show how far below each accuracy threshold a wrong model lands.

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
    cause: str = ""  # the short name of the fault behind every check in ``fails``

    def apply(self, reference: Path) -> str:
        """The lab's reference module with this mistake made in it."""
        source = (reference / f"{self.lab}.py").read_text(encoding="utf-8")
        if source.count(self.before) != 1:
            raise ValueError(f"{self.name}: the edit no longer matches reference/{self.lab}.py")
        return source.replace(self.before, self.after)


def mistake(lab, name, before, after, fails, may_also_fail=("accuracy",), cause=""):
    return Mistake(lab, name, before, after, frozenset(fails), frozenset(may_also_fail), cause)


MISTAKES = (
    mistake(
        "cv1_mnist_intro",
        "no normalisation",
        "return images / 255.0",
        "return images.astype('float32')",
        {"preprocess"},
        (),
        cause="pixels not scaled to 0..1",
    ),
    mistake(
        "cv1_mnist_intro",
        "non-finite training",
        'optimizer="adam"',
        "optimizer=keras.optimizers.Adam(learning_rate=1e30)",
        {"training", "accuracy"},
        cause="a loss that does not stay finite in training",
    ),
    mistake(
        "cv1_mnist_intro",
        "compile_model forgets to return",
        'metrics=["accuracy"],\n    )\n    return model',
        'metrics=["accuracy"],\n    )',
        {"compile", "training", "accuracy"},
        cause="compile_model() does not return the model",
    ),
    mistake(
        "cv2_fashion_mnist_intro",
        "class name as title, not x-label",
        "plt.xlabel(class_names[labels[i]])",
        "plt.title(class_names[labels[i]])",
        {"plot"},
        (),
        cause="no class names as x-labels",
    ),
    mistake(
        "cv2_fashion_mnist_intro",
        "extra Dropout layer",
        'layers.Dense(128, activation="relu"),',
        'layers.Dense(128, activation="relu"),\n            layers.Dropout(0.2),',
        {"structure", "shapes"},
        cause="an extra Dropout layer after the first Dense",
    ),
    mistake(
        "cv2_fashion_mnist_intro",
        "class names out of order",
        '"Sneaker",\n    "Bag",',
        '"Bag",\n    "Sneaker",',
        {"plot"},
        (),
        cause="CLASS_NAMES not in label order",
    ),
    mistake(
        "cv3_mnist_cnn",
        "padding='same'",
        'layers.Conv2D(32, (3, 3), activation="relu")',
        'layers.Conv2D(32, (3, 3), activation="relu", padding="same")',
        {"shapes", "params"},
        cause="padding='same' on the first Conv2D",
    ),
    mistake(
        "cv3_mnist_cnn",
        "missing second pooling",
        'layers.Conv2D(64, (3, 3), activation="relu"),\n            layers.MaxPooling2D((2, 2)),',
        'layers.Conv2D(64, (3, 3), activation="relu"),',
        {"structure", "shapes", "params"},
        cause="a MaxPooling2D layer missing after the second Conv2D",
    ),
    mistake(
        "cv3_mnist_cnn",
        "sigmoid in the hidden dense layer",
        'layers.Dense(64, activation="relu")',
        'layers.Dense(64, activation="sigmoid")',
        {"structure"},
        cause="activation 'sigmoid' instead of 'relu' on the first Dense",
    ),
    mistake(
        "cv4_cifar_cnn",
        "wrong filter count",
        'layers.Conv2D(32, (3, 3), activation="relu")',
        'layers.Conv2D(16, (3, 3), activation="relu")',
        {"shapes", "params"},
        cause="the wrong number of filters on the first Conv2D",
    ),
    mistake(
        "cv4_cifar_cnn",
        "softmax output with from_logits=True (as in the seed)",
        "            layers.Dense(10),\n",
        '            layers.Dense(10, activation="softmax"),\n',
        {"compile"},
        ("accuracy", "training"),
        cause="a softmax output with from_logits=True",
    ),
    mistake(
        "cv4_cifar_cnn",
        "history plot without a legend",
        "    plt.legend()\n",
        "",
        {"plot"},
        (),
        cause="no legend naming both lines",
    ),
    mistake(
        "cv4_cifar_cnn",
        "keras.metrics.Accuracy instead of 'accuracy'",
        'metrics=["accuracy"]',
        "metrics=[keras.metrics.Accuracy()]",
        {"compile"},
        (),
        cause="keras.metrics.Accuracy() instead of 'accuracy'",
    ),
    mistake(
        "cv4_cifar_cnn",
        "ylim of the slides hides the first epoch",
        '    plt.ylabel("Accuracy")\n',
        '    plt.ylabel("Accuracy")\n    plt.ylim([0.5, 1])\n',
        {"plot"},
        (),
        cause="axis limits that hide some epochs",
    ),
)
