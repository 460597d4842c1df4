"""Sandbox: everything that runs student code, and nothing else.

The warm fork server (``forkserver``) inside bubblewrap and cgroups (``isolation``), each
child shutting itself into its own folders (``confine``), or, where bubblewrap cannot run,
becoming a user of its own (``unprivileged``), and sealing the libraries it saves with
(``tamper``); the child's side of a harvest (``harvest``, ``figures``) and of the
grader's training run (``training``); the grader's side of both (``runner``, ``trainer``),
and the screen that reads a saved model before anything builds it (``screen``). It imports
``spec`` and ``intake``, never ``judge``, ``report``, ``batch``, ``publish`` or the CLI.
"""
