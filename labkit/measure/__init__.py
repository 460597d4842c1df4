"""Measure: where grading time goes (``bench``) and where thresholds sit (``calibrate``).

It imports any stage below the CLI, and nothing imports it.
"""
