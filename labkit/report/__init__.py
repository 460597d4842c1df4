"""Report: what a grading run tells its readers, from its list of ``CheckResult``.

Each check's verdict and the results file in Gradescope's format (``checkresults``), the
score table as text, HTML and Markdown (``scoretable``), JUnit XML (``junit``), feedback
pages (``feedback``, with the images ``artifacts`` keeps), the class gradebook
(``gradebook``) and the class summary (``summary``); ``pages`` holds what the HTML pages
share. It reads results and the course's declarations; it runs no student code,
and imports nothing of ``grading``, ``batch``, ``publish`` or the CLI.
"""
