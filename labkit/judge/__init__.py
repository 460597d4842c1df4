"""Judge: checks on what the sandbox left, each telling the student what to fix.

Reading a built model as a list of layers (``architecture``), the checks themselves
(``checks``) and the standard lab functions and check classes a grader module uses
(``grader``). It imports ``spec``, ``intake`` and ``sandbox``; never ``report``, ``batch``,
``publish`` or the CLI.
"""
