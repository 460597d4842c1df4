"""The Gradescope autograder's runtime: what ``run_autograder`` and ``setup.sh`` call.

``python -m labkit.publish.autograder grade ROOT`` grades ``ROOT/submission`` with the course
in ``ROOT/source`` into ``ROOT/results/results.json``: hidden checks included, in a sandbox
(``--isolation required``), with each lab's memory limit fitted to the container's. Where
grading cannot start, the container is too small to grade in, or the grader ends without
results, the results file says so as "could not grade", with what to change: never as the
student's 0.

``python -m labkit.publish.autograder datasets SOURCE FOLDER`` (``setup.sh``, at build time,
when the container has internet) writes each lab's dataset into FOLDER as ``<name>.npz``,
readable by all, so that grading needs no network and no Keras cache.

Memory, measured on the reference of this course's four labs (``README.md``, Gradescope):
the whole run peaks at about 1.5 GiB; in a container of 1.4 GiB a lab's training run is
killed, and at 1 GiB the grader itself. Each lab's processes are also limited in address
space, which TensorFlow reserves far beyond what it uses: 2.5 GiB is too little to train,
3 GiB is enough.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labkit.report.checkresults import COULD_NOT_GRADE, write_json
from labkit.spec import datasets
from labkit.spec.course import Course
from labkit.spec.limits import GIB, OPTIONS

CGROUP_FS = Path("/sys/fs/cgroup")
UNLIMITED = 2**60  # cgroup v1 writes 'no limit' as a number near 2**63
MIN_CONTAINER = int(1.5 * GIB)  # below this the reference itself cannot be graded
HEADROOM = int(1.5 * GIB)  # the grader and the fork server, beside one lab's processes
MIN_LAB = 3 * GIB  # the address space one lab's processes need: TensorFlow reserves 2.4 GiB
KILLED = "killed, probably for using more than"  # a lab's process, as the runner tells it
SETTING = "the autograder's Memory (Gradescope: the assignment's Settings, Autograder Settings)"
ASK = "Submit again, and if it stays, tell your instructor."


def container_memory(
    cgroups: Path = CGROUP_FS, membership: Path = Path("/proc/self/cgroup")
) -> int | None:
    """The memory this process's container may use, in bytes; None when there is no limit.

    The smallest limit of this process's memory cgroup and the cgroups above it, as cgroup v2
    (``memory.max``) or v1 (``memory.limit_in_bytes``) shows them. Inside a container the
    file system shows the container's own cgroup at the top, so the top counts too.
    """
    found = [
        _read_limit(folder / ("memory.max" if version == 2 else "memory.limit_in_bytes"))
        for folder, version in _memory_cgroups(cgroups, membership)
    ]
    limits = [limit for limit in found if limit is not None]
    return min(limits) if limits else None


def oom_kills(cgroups: Path = CGROUP_FS, membership: Path = Path("/proc/self/cgroup")) -> int:
    """How many processes the OOM killer has ended in this process's container so far: the
    largest count of its memory cgroup and those above it (0 where none is shown)."""
    counts = [0]
    for folder, version in _memory_cgroups(cgroups, membership):
        try:
            text = (
                folder / ("memory.events" if version == 2 else "memory.oom_control")
            ).read_text()
            counts.append(int(dict(row.split() for row in text.splitlines()).get("oom_kill", 0)))
        except (OSError, ValueError):
            continue
    return max(counts)


def _memory_cgroups(cgroups: Path, membership: Path) -> list[tuple[Path, int]]:
    """This process's memory cgroup folders, from its own up to the top, with their version."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            top, version = cgroups, 2
        elif "memory" in controllers.split(","):
            top, version = cgroups / "memory", 1
        else:
            continue
        folder = top / path.lstrip("/")
        for candidate in [folder, *folder.parents]:
            found.append((candidate, version))
            if candidate == top:
                break
        found.append((top, version))
    return list(dict.fromkeys(found))


def excuse_out_of_memory(results: dict[str, Any], container: int | None) -> list[str]:
    """Make the labs whose process was killed 'could not grade': the container's OOM killer
    ended processes while they ran, so the kill may not be the submission's doing.

    Returns the labs changed.
    """
    labs = sorted(
        {
            test["tags"][0]
            for test in results["tests"]
            if KILLED in test.get("output", "") and test.get("tags")
        }
    )
    size = f" ({_gib(container)})" if container is not None else ""
    reason = (
        f"{COULD_NOT_GRADE}: the container ran out of memory{size} while this lab was graded, "
        f"so its process may have been ended for what other processes used. Raise {SETTING}."
    )
    changed = []
    for test in results["tests"]:
        if test["tags"][0] in labs and test["status"] == "failed" and test["score"] == 0:
            if COULD_NOT_GRADE not in test["tags"]:
                test["tags"] = [*test["tags"], COULD_NOT_GRADE]
            test["output"] = reason
            changed.append(test["name"])
    if changed:
        results["output"] = (
            f"The grader could not grade {len(changed)} checks: the container ran out of "
            f"memory, not your code's fault. {ASK}"
        )
        extra = results.setdefault("extra_data", {})
        extra[COULD_NOT_GRADE] = sorted({*extra.get(COULD_NOT_GRADE, []), *changed})
    return labs


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit() or int(text) >= UNLIMITED:
        return None  # 'max', or v1's 'no limit'
    return int(text)


def memory_plan(container: int | None, wanted: int) -> tuple[int, str]:
    """Each lab's memory limit in a container of ``container`` bytes, and why grading cannot
    go ahead ('' when it can).

    The limit stays below what the container holds beside the grader, down to what a lab
    needs; in a container smaller than that the children are still the first its OOM killer
    ends (their OOM score is the highest), and below MIN_CONTAINER nothing can be graded.
    """
    if container is None:
        return wanted, ""
    if container < MIN_CONTAINER:
        return wanted, (
            f"The autograder has {_gib(container)} of memory and grading needs at least "
            f"{_gib(MIN_CONTAINER)} (3 GB recommended): raise {SETTING}."
        )
    return max(MIN_LAB, min(wanted, container - HEADROOM)), ""


def _gib(size: int) -> str:
    return f"{size / GIB:.2f} GiB"


def could_not_grade(reason: str, seconds: float = 0.0) -> dict[str, Any]:
    """A results file that says the submission could not be graded, and why: never a grade."""
    return {
        "score": 0,
        "execution_time": round(seconds, 1),
        "output": (
            "The autograder could not grade this submission: a problem with the autograder, "
            f"not with your code. {ASK}\n\n{reason}"
        ),
        "output_format": "text",
        "tests": [
            {
                "name": "The autograder could not grade this submission",
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": reason,
                "tags": [COULD_NOT_GRADE],
            }
        ],
        "extra_data": {COULD_NOT_GRADE: ["the whole submission"], "reason": reason},
    }


def lock_down(root: Path) -> None:
    """Make the course and the results root's alone: no child may read or write them."""
    if os.geteuid() != 0:
        return
    for folder in (root / "source", root / "results"):
        if folder.is_dir():
            os.chown(folder, 0, 0)
            folder.chmod(0o700)


def grade(root: Path) -> int:
    """Grade ``root/submission`` into ``root/results/results.json``; always leave a results file."""
    started = time.monotonic()
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    lock_down(root)
    container = container_memory()
    memory = next(spec for spec in OPTIONS if spec.dest == "memory_limit")
    wanted = int(memory.value(memory.default))
    limit, problem = memory_plan(container, wanted)
    if problem:
        print(problem)
        write_json(results, could_not_grade(problem, time.monotonic() - started))
        return 0
    if container is not None:
        print(f"container memory {_gib(container)}: each lab's limit {_gib(limit)}")
    command = [
        *(sys.executable, "-P", "-m", "labkit.cli", "grade", "--course", str(root / "source")),
        *("--submission", str(root / "submission"), "--isolation", "required"),
        *("--results", str(results), "--memory-limit", f"{limit / GIB:g}"),
    ]
    killed_before = oom_kills()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    if results.is_file():
        if oom_kills() > killed_before:
            found = json.loads(results.read_text(encoding="utf-8"))
            excused = excuse_out_of_memory(found, container)
            if excused:
                print(f"the container ran out of memory: could not grade {', '.join(excused)}")
                write_json(results, found)
        return 0
    reason = _why(done, container)
    print(reason)
    write_json(results, could_not_grade(reason, time.monotonic() - started))
    return 0


def _why(done: subprocess.CompletedProcess[str], container: int | None) -> str:
    """Why the grader ended without results, for the student and the instructor."""
    if done.returncode in (-9, 137):
        size = f" of {_gib(container)}" if container is not None else ""
        return (
            f"The grader was killed, most likely for running out of memory{size}: raise {SETTING}."
        )
    said = [line for line in done.stderr.strip().splitlines() if line.strip()]
    said = said or done.stdout.strip().splitlines()
    return "\n".join(said[-20:])[-3000:] or f"the grader stopped with status {done.returncode}"


def write_datasets(source: Path, folder: Path) -> list[Path]:
    """Write each lab's dataset into ``folder`` as ``<name>.npz``, readable by all."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    written = []
    for dataset in dict.fromkeys(lab.dataset for lab in Course(source).labs.values()):
        path = folder / f"{dataset.name}.npz"
        if not path.is_file():
            path = datasets.write_npz(dataset, folder)
        path.chmod(0o644)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.publish.autograder")
    commands = parser.add_subparsers(dest="command", required=True)
    grading = commands.add_parser("grade", help="grade ROOT/submission into ROOT/results")
    grading.add_argument("root", type=Path)
    data = commands.add_parser("datasets", help="write each lab's dataset into FOLDER")
    data.add_argument("source", type=Path)
    data.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.command == "grade":
        return grade(args.root)
    for path in write_datasets(args.source, args.folder):
        print(f"dataset: {path} ({path.stat().st_size / 2**20:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
