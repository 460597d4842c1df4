"""Intake: what students hand in, turned into one lab module per lab.

Finding a lab's module in a submission (``submission``), turning a notebook back into a
module (``notebooks``, with the cell slicer in ``sourcecode``), and reading a class folder of
submissions in an LMS's layouts (``classfolder``). Nothing here runs student code. It
imports only ``spec``.
"""
