"""Publish: what a course hands out, and its check on itself before it does.

Handouts from templates (``handouts``, its nbconvert steps in ``preprocessors``, the
notebook's "check your work" in ``selfcheck``), the student release and the Gradescope
bundle (``release``), and the course's check on its own declarations and scores
(``coursecheck``). It imports the stages below it, never ``batch``, ``measure`` or the CLI.
"""
