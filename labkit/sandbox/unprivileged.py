"""Each child as an unprivileged user of its own, where bubblewrap cannot run (Linux, as root).

Docker's default seccomp profile and capabilities refuse the namespaces bubblewrap needs, so
in a container such as Gradescope's the sandbox cannot start. A grader that runs as root can
still keep student code away from what it must not touch, the way Gradescope itself advises:
every child the fork server forks gives up root before it runs anything of the student's
(``become``):

- it takes a uid and gid of its own, from ``$LABKIT_SANDBOX_UIDS`` (62000-62999), in a block
  that this grading process holds a lock on, so that no other child, of this run or of another
  on the machine, has the same user at the same time;
- it keeps no supplementary group and no capability, cannot become root again, and gains
  nothing from a set-uid program (``no_new_privs``); it is not dumpable;
- it keeps the per-process limits (CPU time, address space, file size) and gets one more: at
  most 512 processes and threads of its user (``RLIMIT_NPROC``);
- its OOM score is the highest, so that a container that runs out of memory loses a child,
  never the grader that would write the results.

On the grader's side (``prepare``), the run's work folder can be passed through but not
listed; the child's inputs are readable by its own group only, and its output and scratch
folders are its own, mode 700. Everything else stays root's: the course's graders, the
results, the grader's copies of what each lab left, and every other lab's folders. When the
child has ended, the fork server ends every process still running as its user
(``end_user``), so that one which left the child's session ends too. Cgroups, where the
grader may create them, cap the child's tree as they do in bubblewrap; nothing here depends
on them.

What bubblewrap gives and this does not: no network namespace (a child can reach the
network), a /tmp shared with the machine, and no private view of the file system: a child
sees every file that other users may read, so the Python it runs with must be one, and the
grader's own files must not be.

Usage, on the grader's side::

    reason = unavailable_reason()            # '' where this mode can run
    users = Users.claim()                    # a block of uids, held until release()
    uid = users.take(busy)
    prepare(uid, inputs, outputs, workdir)   # then the child calls become(uid, home)
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import os
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

UIDS_ENV = "LABKIT_SANDBOX_UIDS"  # "FIRST-LAST", or "none" to turn this mode off
DEFAULT_UIDS = (62000, 62999)
BLOCK = 100  # uids one grading process holds: more than its children ever run at once
LOCKS = "labkit-uids"  # a root-only folder in the temporary folder: one lock file per block
MAX_TASKS = 512  # processes and threads of one child's user; TensorFlow's pools included
PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 4, 38
KILL_ROUNDS = 50
PROBED_PACKAGES = ("numpy", "keras", "tensorflow", "matplotlib")


class UsersUnavailable(RuntimeError):
    """No block of uids is free, or the range is unusable; the message says what to do."""


def uid_range() -> range | None:
    """The uids children may run as, from ``$LABKIT_SANDBOX_UIDS``; None when turned off."""
    given = os.environ.get(UIDS_ENV, "").strip()
    if given.lower() in ("none", "off", "0"):
        return None
    if not given:
        return range(DEFAULT_UIDS[0], DEFAULT_UIDS[1] + 1)
    try:
        first, last = (int(part) for part in given.split("-"))
    except ValueError:
        raise UsersUnavailable(
            f"{UIDS_ENV}={given!r} is not a range of uids: set it to FIRST-LAST, for "
            f"example {DEFAULT_UIDS[0]}-{DEFAULT_UIDS[1]}, or to none"
        ) from None
    if not 0 < first <= last or last - first + 1 < BLOCK:
        raise UsersUnavailable(
            f"{UIDS_ENV}={given!r} must name at least {BLOCK} uids above 0, FIRST-LAST"
        )
    return range(first, last + 1)


@functools.cache
def unavailable_reason() -> str:
    """Why children cannot run as unprivileged users here, or '' when they can (checked once)."""
    if sys.platform != "linux":
        return f"running children as another user needs Linux, and this is {sys.platform}"
    if os.geteuid() != 0:
        return "the grader is not root, so it cannot run children as another user"
    try:
        uids = uid_range()
        if uids is None:
            return f"turned off by {UIDS_ENV}"
        _lock_folder()
    except (UsersUnavailable, OSError) as error:
        return str(error)
    needs = _python_needs()
    command = [sys.executable, "-c", "import sys; from labkit.sandbox import unprivileged as u"]
    command[-1] += "; u.probe(int(sys.argv[1]), sys.argv[2:])"
    try:
        done = subprocess.run(
            [*command, str(uids[-1]), *needs],
            capture_output=True,
            timeout=60,
            check=False,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the unprivileged user could not be tried: {error}"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return said[-1] if said else f"the unprivileged user's probe failed ({done.returncode})"
    return ""


def probe(uid: int, needs: Sequence[str]) -> None:
    """As ``uid``: exit 0 only if root is gone for good and Python and labkit can be read."""
    try:
        become(uid, "/")
    except OSError as error:
        _fail(f"the grader could not become uid {uid}: {error}")
    for path in needs:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as file:
                    file.read(1)
        except OSError as error:
            _fail(
                f"uid {uid} cannot read {path} ({error.strerror}): install Python and labkit "
                "where every user may read them, such as /opt or /usr/local"
            )
    os._exit(0)


def _fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    os._exit(1)


def _python_needs() -> list[str]:
    """What a child reads after it has given up root: Python's library, labkit, TensorFlow."""
    import labkit

    needs = [
        os.path.dirname(os.__file__),
        os.path.join(sysconfig.get_path("platstdlib"), "lib-dynload"),
        os.path.dirname(labkit.__file__),
    ]
    for name in PROBED_PACKAGES:
        with contextlib.suppress(ImportError, ValueError):
            found = importlib.util.find_spec(name)
            if found is not None and found.origin:
                needs.append(found.origin)
    return [path for path in needs if os.path.exists(path)]


def _lock_folder() -> Path:
    """The root-only folder that holds one lock file per block of uids."""
    folder = Path(tempfile.gettempdir()) / LOCKS
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise UsersUnavailable(
            f"{folder} is not a folder that only root may use: remove it and grade again"
        )
    return folder


class Users:
    """A block of uids held by one grading process: each child takes one no other child has."""

    def __init__(self, uids: range, lock: int) -> None:
        self.uids = uids
        self._lock = lock
        self._next = 0

    @classmethod
    def claim(cls) -> Users:
        """Lock a free block of the uid range; raises UsersUnavailable when every one is held."""
        uids = uid_range()
        if uids is None:
            raise UsersUnavailable(f"turned off by {UIDS_ENV}")
        folder = _lock_folder()
        for start in range(0, len(uids) - BLOCK + 1, BLOCK):
            block = uids[start : start + BLOCK]
            lock = os.open(folder / f"{block[0]}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(lock)
                continue
            return cls(block, lock)
        raise UsersUnavailable(
            f"every block of {BLOCK} uids in {uids[0]}-{uids[-1]} is held by another grading "
            f"process: set {UIDS_ENV} to a larger range"
        )

    def take(self, busy: Iterable[int]) -> int:
        """The next uid of the block that no running child has."""
        taken = set(busy)
        for _ in range(len(self.uids)):
            uid = self.uids[self._next % len(self.uids)]
            self._next += 1
            if uid not in taken:
                return uid
        raise UsersUnavailable(f"all {len(self.uids)} uids of this grading run are in use")

    def release(self) -> None:
        if self._lock >= 0:
            os.close(self._lock)  # the lock goes with the descriptor
            self._lock = -1


def reachable(folder: Path) -> str:
    """'' when other users may pass through every folder above ``folder``; else which not."""
    for parent in folder.resolve().parents:
        mode = stat.S_IMODE(parent.stat().st_mode)
        if not mode & stat.S_IXOTH:
            return (
                f"other users cannot pass through {parent} (mode {mode:o}), so a child "
                f"cannot reach {folder}: grade in a work folder outside it"
            )
    return ""


def prepare(uid: int, inputs: Sequence[Path], outputs: Sequence[Path], workdir: Path) -> None:
    """Give ``uid`` its folders: ``inputs`` to read, ``outputs`` its own, nothing else.

    The folders between ``workdir`` and each of them can be passed through, not listed.
    """
    for folder in inputs:
        _group_readable(folder, uid)
    for folder in outputs:
        os.chown(folder, uid, uid)
        os.chmod(folder, 0o700)
    top = workdir.resolve()
    for path in [*inputs, *outputs]:
        for parent in path.resolve().parents:
            if parent != top and top not in parent.parents:
                break
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)


def _group_readable(folder: Path, gid: int) -> None:
    """``folder`` and what it holds: root's, readable by group ``gid`` only, links untouched."""
    for root, folders, files in os.walk(folder):
        os.chown(root, 0, gid)
        os.chmod(root, 0o750)
        for name in files:
            path = os.path.join(root, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.chown(path, 0, gid)
                os.chmod(path, 0o640)
        folders[:] = [name for name in folders if not os.path.islink(os.path.join(root, name))]


def become(uid: int, home: str) -> None:
    """Give up root for good: run as ``uid`` (and group ``uid``), with no way back.

    Called in a forked child before it runs anything of the student's.
    """
    from labkit.sandbox import confine

    with contextlib.suppress(OSError):  # first to go when the container runs out of memory
        Path("/proc/self/oom_score_adj").write_text("1000")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    confine._call(confine._libc().prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    confine._call(confine._libc().prctl, PR_SET_DUMPABLE, 0, 0, 0, 0)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise PermissionError(f"uid {uid} could become root again")
    os.umask(0o077)
    os.environ["HOME"] = os.environ["TMPDIR"] = home
    tempfile.tempdir = None  # tempfile reads TMPDIR afresh


def end_user(uid: int) -> None:
    """End every process running as ``uid``: whatever a child left behind, in any session.

    Signals from a helper that becomes ``uid``, since only then does ``kill(-1)`` reach
    exactly that user's processes, and no other.
    """
    helper = os.fork()
    if helper == 0:
        try:
            os.setresuid(uid, uid, uid)
            for _ in range(KILL_ROUNDS):
                os.kill(-1, signal.SIGKILL)  # never the caller itself
        except OSError:
            pass  # ESRCH: nothing of the user's is left
        finally:
            os._exit(0)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(helper, 0)
