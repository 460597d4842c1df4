"""Batch: a whole class, graded in a pool of warm workers or on a Dask cluster.

Each submission is graded exactly as a single grading run grades it (``worker``); the run
over a class folder, with resuming and its outputs, is ``classrun``. It imports the stages
below it, never ``publish``, ``measure`` or the CLI.
"""
