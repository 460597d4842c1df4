"""Grading: one grading run, as pytest runs the graders.

The pytest plugin (``plugin``) that harvests each lab in the sandbox, hands the harvest to
the judge's checks and writes the report; output capture (``capture``) for callers that show
only the score table; and TensorFlow imported without its C++ notices (``quiet``), the first
call of every notebook and worker. It imports the stages below it, never ``batch``,
``publish``, ``measure`` or the CLI.
"""
