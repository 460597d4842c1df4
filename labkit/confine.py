"""Shut one lab's child into its own folder, inside the run's bubblewrap sandbox (Linux).

The fork server runs in one bubblewrap sandbox per run and forks a child per lab. Before the
child runs any student code it calls ``confine``, which, with namespaces of its own:

- covers the run's work folder with an empty read-only tmpfs and mounts back only this lab's
  ``in`` folder and the submission (read-only) and its ``out`` folder (writable);
- covers the cgroup files, so the child cannot raise its own limits;
- gives the child a private ``/tmp`` and ``/dev/shm``, and a read-only ``/dev``;
- gives up every capability, so none of those mounts can be undone, and starts a PID
  namespace whose first process runs the lab; when it ends, the kernel ends all it started.

The server and every child are also made non-dumpable (``make_unreachable``): ``/proc``
stays mounted, since TensorFlow reads it, but another process of the same user cannot open
their files, memory or folders through it, and their pids are outside the lab's namespace.

Usage, in the forked child: ``confine(Confinement(...))``; only the returned lab process
goes on, the caller's process waits for it and exits with its status.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
from dataclasses import dataclass
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 1, 2, 4, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
HOLD = "/labkit-hold"  # an empty folder bubblewrap makes; lab folders wait here while covered
TMP_BYTES = 512 * 2**20


@dataclass(frozen=True)
class Confinement:
    """What one lab's child keeps of the run's sandbox."""

    workdir: str  # the run's work folder, covered whole
    inputs: tuple[str, ...]  # folders under it to mount back read-only
    outputs: tuple[str, ...]  # folders under it to mount back writable
    covered: tuple[str, ...] = ()  # other folders to cover, such as the cgroup files

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> Confinement:
        return cls(
            request["workdir"],
            tuple(request["inputs"]),
            tuple(request["outputs"]),
            tuple(request.get("covered", ())),
        )


class ConfinementFailed(OSError):
    """The kernel refused a step; the lab must not run half-confined."""


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def confine(confinement: Confinement) -> None:
    """Confine this process; return in the lab's own process, which is PID 1 of a new namespace.

    The calling process never returns: it waits for the lab's process and exits as it did.
    """
    _call(_libc().unshare, CLONE_NEWNS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _keep_only(confinement)
    for folder in (HOLD, *confinement.covered):
        _mount("none", folder, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
    # /dev is one tmpfs for the whole sandbox: read-only here, with a /dev/shm of its own.
    _mount(None, "/dev", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    _mount("none", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={TMP_BYTES},mode=1777")
    _call(_libc().unshare, CLONE_NEWPID)
    _drop_capabilities()
    pid = os.fork()
    if pid == 0:
        _call(_libc().prctl, PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        return
    _wait_and_exit(pid)


def probe() -> None:
    """Confine a throwaway process as a lab's would be; exit 0 only if every step held.

    Run inside a bubblewrap sandbox with a writable /tmp, to learn whether this kernel lets
    the children confine themselves.
    """
    workdir = "/tmp/labkit-probe"
    for part in ("in", "out"):
        os.makedirs(f"{workdir}/{part}")
    confine(Confinement(workdir, (f"{workdir}/in",), (f"{workdir}/out",)))
    with open(f"{workdir}/out/written", "w") as file:
        file.write("ok")
    try:
        open(f"{workdir}/in/written", "w").close()
    except OSError:
        os._exit(0)
    os._exit(1)  # the inputs were writable: the confinement did not hold


def make_unreachable() -> None:
    """Keep processes of the same user from this one's files, memory and folders in /proc.

    Inherited by every child forked later.
    """
    _call(_libc().prctl, PR_SET_DUMPABLE, 0, 0, 0, 0)


def _keep_only(confinement: Confinement) -> None:
    """Cover the work folder, then mount back just this lab's folders at their own paths."""
    kept = [(path, True) for path in confinement.inputs]
    kept += [(path, False) for path in confinement.outputs]
    # HOLD is shared by every child until each mounts its own over it.
    _mount("none", HOLD, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=700")
    for number, (path, _) in enumerate(kept):
        hold = f"{HOLD}/{number}"
        os.mkdir(hold)
        _mount(path, hold, None, MS_BIND | MS_REC)
    # A private /tmp first: the work folder itself may be under /tmp.
    _mount("none", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={TMP_BYTES},mode=1777")
    os.makedirs(confinement.workdir, exist_ok=True)
    _mount("none", confinement.workdir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    for number, (path, read_only) in enumerate(kept):
        os.makedirs(path, exist_ok=True)
        _mount(f"{HOLD}/{number}", path, None, MS_BIND | MS_REC)
        if read_only:
            _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _mount(None, confinement.workdir, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _drop_capabilities() -> None:
    """Give up every capability, so the mounts above stay as they are."""
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted and inheritable, twice 32 bits: none
    _call(_libc().capset, header, data)


def _wait_and_exit(pid: int) -> None:
    code = 70
    try:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    finally:
        if code < 0:  # die the same way, so the grader can tell a kill from an exit
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code if code >= 0 else 70)


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str = "") -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _call(_libc().mount, encode(source), target.encode(), encode(kind), flags, data.encode())


def _call(function: ctypes._CFuncPtr, *args: object) -> None:
    if function(*args) != 0:
        number = ctypes.get_errno()
        raise ConfinementFailed(number, f"{function.__name__}: {os.strerror(number)}")
