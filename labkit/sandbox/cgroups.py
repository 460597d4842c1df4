"""A cgroup per lab child, nested under the grader's own, capping the whole tree it starts.

Each run gets a folder beneath the cgroup the grader itself runs in, and each child a cgroup
in it: memory (``--memory-limit``), at most MAX_TASKS processes and threads, and at most
CPUS processors' worth of CPU time per period. The tree's CPU time is read back, so that a
lab that forks many processes is stopped at the same CPU budget as one process. Nested, the
labs stay within whatever limits an operator set on the grader's own cgroup, and each lab
competes for the processors as one group, however many processes it forks.

cgroup v1 (a hierarchy per controller) and v2 (one unified hierarchy) differ only in the
``Layout`` table below. Where neither can be used (not root, not Linux, a v2 cgroup that
cannot hand its controllers on), there are no cgroups and each process has its own limits.

Usage::

    cgroups = Cgroups.create("labkit-run")
    procs = cgroups.add("0", memory_bytes)   # the files a child writes its pid to, in the sandbox
    used = cgroups.cpu_seconds("0")          # CPU seconds of that child's whole tree, or None
    cgroups.remove()
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from labkit.sandbox import training

MOUNT = "/labkit-cgroup"  # where a run's cgroups appear inside the sandbox
MAX_TASKS = 512  # processes and threads of one child's tree; TensorFlow's pools included
CPUS = training.THREADS  # processors a lab may keep busy at once: those the grader trains with
PERIOD_US = 100_000
REMOVE_SECONDS = 5.0
OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")  # how mountinfo writes a space, tab or backslash
LEAF = "labkit-grader"  # v2: where the grader's cgroup's own processes move to hand it on


@dataclass(frozen=True)
class Layout:
    """What differs between cgroup v1 and v2; nothing else here knows which one it uses."""

    version: int
    filesystem: str  # the mount type in /proc/self/mountinfo
    hierarchies: tuple[str, ...]  # v1: one mount per controller; v2: the one unified tree
    required: tuple[str, ...]  # without these, no cgroup is worth making
    # Each limit: the hierarchy, the file, and its value with {memory}, {tasks}, {quota}
    # and {period} filled in.
    limits: tuple[tuple[str, str, str], ...]
    # The tree's CPU time: hierarchy, file, the line's key ('' for the whole file), and the
    # seconds per unit it counts in.
    usage: tuple[str, str, str, float]
    # Counters of the memory limit: how often a tree reached its own limit, and how many of
    # its processes an out-of-memory killer ended, whichever limit ran out (hierarchy, file,
    # the line's key).
    limit_reached: tuple[str, str, str]
    oom_kills: tuple[str, str, str]
    enable: str = ""  # written to each parent's cgroup.subtree_control; v1 has none


V1 = Layout(
    version=1,
    filesystem="cgroup",
    hierarchies=("memory", "pids", "cpu", "cpuacct"),
    required=("memory", "pids"),
    limits=(
        ("memory", "memory.limit_in_bytes", "{memory}"),
        ("pids", "pids.max", "{tasks}"),
        ("cpu", "cpu.cfs_period_us", "{period}"),
        ("cpu", "cpu.cfs_quota_us", "{quota}"),
    ),
    usage=("cpuacct", "cpuacct.usage", "", 1e-9),
    limit_reached=("memory", "memory.failcnt", ""),
    oom_kills=("memory", "memory.oom_control", "oom_kill"),
)
V2 = Layout(
    version=2,
    filesystem="cgroup2",
    hierarchies=("unified",),
    required=("unified",),
    limits=(
        ("unified", "memory.max", "{memory}"),
        ("unified", "pids.max", "{tasks}"),
        ("unified", "cpu.max", "{quota} {period}"),
    ),
    usage=("unified", "cpu.stat", "usage_usec", 1e-6),
    limit_reached=("unified", "memory.events", "max"),
    oom_kills=("unified", "memory.events", "oom_kill"),
    enable="+memory +pids +cpu",
)
LAYOUTS = (V1, V2)


def own_folders(layout: Layout, mountinfo: str, membership: str) -> dict[str, Path]:
    """The folder of this process's own cgroup in each of ``layout``'s hierarchies it finds.

    ``mountinfo`` and ``membership`` are the texts of /proc/self/mountinfo and
    /proc/self/cgroup.
    """
    paths = {}  # hierarchy: this process's cgroup, as the hierarchy's root sees it
    for line in membership.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if layout.version == 2 and number == "0" and not controllers:
            paths["unified"] = path
        elif layout.version == 1:
            for name in controllers.split(","):
                paths.setdefault(name, path)
    found = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        kind, _, options = line.split(" - ", 1)[1].split(" ")[:3]
        if kind != layout.filesystem:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        for hierarchy in layout.hierarchies:
            mounted = layout.version == 2 or hierarchy in options.split(",")
            own = paths.get(hierarchy)
            if hierarchy in found or not mounted or own is None:
                continue
            if own == root or root == "/" or own.startswith(root.rstrip("/") + "/"):
                inside = own[len(root) :] if root != "/" else own
                found[hierarchy] = Path(point) / inside.lstrip("/")
    return found


def locate() -> tuple[Layout, dict[str, Path]] | None:
    """This machine's cgroup layout and the grader's own cgroup in each hierarchy, if any."""
    if sys.platform != "linux":
        return None
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
        membership = Path("/proc/self/cgroup").read_text(encoding="utf-8")
    except OSError:
        return None
    for layout in LAYOUTS:
        found = own_folders(layout, mountinfo, membership)
        if all(hierarchy in found for hierarchy in layout.required):
            return layout, found
    return None


@dataclass
class Cgroups:
    """A cgroup per child under one folder per run, beneath the grader's own cgroup."""

    run: str
    layout: Layout = V1
    folders: dict[str, Path] = field(default_factory=dict)  # hierarchy: the run's folder

    @classmethod
    def create(cls, run: str, located: tuple[Layout, dict[str, Path]] | None = None) -> Cgroups:
        """The run's cgroups where this process may make them; else none.

        ``located`` stands in for the machine's own layout and folders (``locate()``).
        """
        found = located if located is not None else locate()
        if found is None:
            return cls(run)
        layout, parents = found
        cgroups = cls(run, layout)
        try:
            for hierarchy, parent in parents.items():
                folder = parent / run
                if folder not in cgroups.folders.values():  # v1 may mount two controllers as one
                    if layout.enable:
                        _hand_on(parent, layout.enable)
                    folder.mkdir()
                    if layout.enable:
                        (folder / "cgroup.subtree_control").write_text(layout.enable)
                cgroups.folders[hierarchy] = folder
        except OSError:
            cgroups.remove()
        if not all(hierarchy in cgroups.folders for hierarchy in layout.required):
            cgroups.remove()  # one without the other caps too little to be worth it
        return cgroups

    @classmethod
    def usable(cls) -> bool:
        """Whether this process may make cgroups to cap its children's trees."""
        probe = cls.create(f"labkit-probe-{os.getpid()}")
        usable = bool(probe.folders)
        probe.remove()
        return usable

    def add(self, name: str, memory_bytes: int, mounted: bool = True) -> list[str]:
        """Make child ``name``'s cgroups; return their ``cgroup.procs`` as the child sees them:
        where bubblewrap binds them (``mounted``), or where they are."""
        if not self.folders:
            return []
        values = {
            "memory": memory_bytes,
            "tasks": MAX_TASKS,
            "period": PERIOD_US,
            "quota": CPUS * PERIOD_US,
        }
        for folder in dict.fromkeys(self.folders.values()):
            (folder / name).mkdir(exist_ok=True)
        for hierarchy, file, value in self.layout.limits:
            if hierarchy in self.folders:
                (self.folders[hierarchy] / name / file).write_text(value.format(**values))
        if not mounted:
            return [f"{folder}/{name}/cgroup.procs" for folder in self.folders.values()]
        return [f"{MOUNT}/{hierarchy}/{name}/cgroup.procs" for hierarchy in self.folders]

    def cpu_seconds(self, name: str) -> float | None:
        """The CPU time of child ``name``'s whole tree so far; None where it is not counted."""
        hierarchy, file, key, unit = self.layout.usage
        used = self._count(name, hierarchy, file, key)
        return None if used is None else used * unit

    def outside_oom_kill(self, name: str) -> bool:
        """Whether an out-of-memory killer ended a process of child ``name``'s tree that never
        reached its own memory limit: the machine's memory, or that of a cgroup around the
        grader's, ran out first. False where it is not counted."""
        kills = self._count(name, *self.layout.oom_kills)
        reached = self._count(name, *self.layout.limit_reached)
        return bool(kills) and reached == 0

    def _count(self, name: str, hierarchy: str, file: str, key: str) -> int | None:
        """A counter of child ``name``'s cgroup: the file's number, or its line ``key``'s."""
        if hierarchy not in self.folders:
            return None
        try:
            text = (self.folders[hierarchy] / name / file).read_text()
            if key:
                text = next(line for line in text.splitlines() if line.startswith(key + " "))
                text = text.split()[1]
            return int(text)
        except (OSError, ValueError, StopIteration, IndexError):
            return None

    def binds(self) -> list[str]:
        """The bubblewrap options that show the run's folders inside the sandbox."""
        options = []
        for hierarchy, folder in self.folders.items():
            options += ["--bind", str(folder), f"{MOUNT}/{hierarchy}"]
        return options

    def remove(self) -> None:
        """Remove every cgroup of the run, waiting briefly for the kernel to empty them."""
        deadline = time.monotonic() + REMOVE_SECONDS
        for folder in dict.fromkeys(self.folders.values()):
            inside = list(folder.iterdir()) if folder.is_dir() else []
            for group in [*(path for path in inside if path.is_dir()), folder]:
                while True:
                    try:
                        group.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:  # its last processes are still being torn down
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.05)
        self.folders = {}


def _hand_on(parent: Path, controllers: str) -> None:
    """v2: let ``parent``'s children have ``controllers`` ('+memory +pids ...').

    The kernel hands controllers on only from a cgroup without processes of its own; where
    the grader's cgroup has some, they move into a leaf beside the run's folders, as container
    init systems do, and stay within the grader's cgroup and its limits.
    """
    control = parent / "cgroup.subtree_control"
    wanted = [name.lstrip("+") for name in controllers.split()]
    if all(name in control.read_text().split() for name in wanted):
        return
    try:
        control.write_text(controllers)
        return
    except OSError as error:
        if error.errno != errno.EBUSY:
            raise
    leaf = parent / LEAF
    leaf.mkdir(exist_ok=True)
    for pid in (parent / "cgroup.procs").read_text().split():
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            (leaf / "cgroup.procs").write_text(pid)
    control.write_text(controllers)


def _unescape(text: str) -> str:
    """A mountinfo path, with its octal escapes (a space is \\040) undone."""
    return OCTAL_ESCAPE.sub(lambda match: chr(int(match[1], 8)), text)
