"""Spec: what a lab is, before anything runs.

A lab's declaration (``lab``), the course folder that holds its graders (``course``), where
its data comes from (``datasets``), how a check fails (``failures``) and what its processes
may use (``limits``). Every other stage reads these; this one imports nothing else of
labkit.
"""
