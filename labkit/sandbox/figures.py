"""Describe a matplotlib figure as plain data, so the grader can judge it without running code.

Usage: ``description, images = figures.describe(figure)``
"""

from __future__ import annotations

from typing import Any

import numpy as np


def describe(figure: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Return a JSON-ready description of ``figure`` and the image arrays its axes show."""
    from matplotlib.figure import Figure

    if not isinstance(figure, Figure):
        raise TypeError(
            f"expected a matplotlib Figure, got {type(figure).__name__}: "
            "return the figure, for example `return figure` or `return plt.gcf()`"
        )
    figure.canvas.draw()  # lays out legends and ticks as they would be shown
    axes, images = [], {}
    for index, ax in enumerate(figure.get_axes()):
        for number, image in enumerate(ax.get_images()):
            images[f"axes{index}_image{number}"] = np.asarray(image.get_array())
        axes.append(_describe_axes(ax))
    return {"axes": axes}, images


def _describe_axes(ax: Any) -> dict[str, Any]:
    legend = ax.get_legend()
    x0, y0, width, height = ax.get_position().bounds
    return {
        "position": [x0, y0, width, height],
        "axis_on": bool(ax.axison),
        "title": ax.get_title(),
        "xlabel": ax.get_xlabel(),
        "ylabel": ax.get_ylabel(),
        "xticks": [float(tick) for tick in ax.get_xticks()] if ax.axison else [],
        "yticks": [float(tick) for tick in ax.get_yticks()] if ax.axison else [],
        # What the axes shows, so a check can tell when fixed limits hide part of a line.
        "xlim": [float(limit) for limit in ax.get_xlim()],
        "ylim": [float(limit) for limit in ax.get_ylim()],
        "image_count": len(ax.get_images()),
        "lines": [
            {
                "label": line.get_label(),
                "x": np.asarray(line.get_xdata(), dtype=float).tolist(),
                "y": np.asarray(line.get_ydata(), dtype=float).tolist(),
            }
            for line in ax.get_lines()
        ],
        "legend": [text.get_text() for text in legend.get_texts()] if legend else None,
    }
