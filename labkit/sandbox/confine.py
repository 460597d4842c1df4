"""Shut one lab's child into its own folder, inside the run's bubblewrap sandbox (Linux).

The fork server runs in one bubblewrap sandbox per run and forks a child per lab. Before the
child runs any student code it calls ``confine``, which, with namespaces of its own:

- covers the run's work folder with an empty read-only tmpfs and mounts back only this lab's
  ``in`` folder (read-only), and at its ``out`` folder a tmpfs capped in bytes and files;
- covers the cgroup files, so the child cannot raise its own limits;
- gives the child a private ``/tmp`` and ``/dev/shm``, a read-only ``/dev`` and a session
  keyring of its own;
- gives up every capability, so none of those mounts can be undone, and starts a PID
  namespace whose first process runs the lab; when it ends, the kernel ends all it started,
  and only then does the waiting parent copy the regular files of ``out`` to the real folder.

The server and every child are also made non-dumpable (``make_unreachable``): ``/proc``
stays mounted, since TensorFlow reads it, but another process of the same user cannot open
their files, memory or folders through it, and their pids are outside the lab's namespace.

Usage, in the forked child: ``confine(Confinement(...))``; only the returned lab process
goes on, the caller's process waits for it and exits with its status.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import stat
from dataclasses import dataclass, field
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 1, 2, 4, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")  # how mountinfo writes a space, tab or backslash
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_SYSCALLS = {"x86_64": 250, "aarch64": 219}
OUTPUT_BYTES = 1024 * 2**20  # all files a lab's child leaves; a harvest writes a few MB
OUTPUT_FILES = 64
HOLD = "/labkit-hold"  # an empty folder bubblewrap makes; lab folders wait here while covered
TMP_BYTES = 512 * 2**20
CPU_ACCOUNTING_SLACK = 0.95
# How the lab's process exits on SIGXCPU, as a shell tells a death by it: by its handler,
# since the kernel's sampled CPU time can fall 8% short of the limit that sent it.
EXIT_XCPU = 128 + signal.SIGXCPU
EVENTS_FD = 3  # where the lab writes its events (labkit.sandbox.forkserver.EVENTS_FD)
ACKS_FD = 4  # where a collected lab reads that its step's files were taken
MAX_EVENT_LINE = 2**20
COLLECTOR = "collector"  # labkit.sandbox.records.COLLECTOR: a line from the lab's parent
COLLECTOR_KEY = b'"collector"'


@dataclass(frozen=True)
class Confinement:
    """What one lab's child keeps of the run's sandbox."""

    workdir: str  # the run's work folder, covered whole
    inputs: tuple[str, ...]  # folders under it to mount back read-only
    outputs: tuple[str, ...]  # folders under it to mount back writable
    covered: tuple[str, ...] = ()  # other folders to cover, such as the cgroup files
    collect: bool = False  # take each step's files as it reports them (one output folder)

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> Confinement:
        return cls(
            request["workdir"],
            tuple(request["inputs"]),
            tuple(request["outputs"]),
            tuple(request.get("covered", ())),
            bool(request.get("collect")),
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
    outputs = _keep_only(confinement)
    for folder in (HOLD, *confinement.covered):
        _mount("none", folder, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")
    # /dev is one tmpfs for the whole sandbox: read-only here, with a /dev/shm of its own.
    _mount(None, "/dev", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _mount("none", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={TMP_BYTES},mode=1777")
    _join_new_keyring()
    _call(_libc().unshare, CLONE_NEWPID)
    _drop_capabilities()
    pipes = (*os.pipe(), *os.pipe()) if confinement.collect else ()
    pid = os.fork()
    if pid == 0:
        _call(_libc().prctl, PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # PID 1 of a namespace ignores a signal it has no handler for, SIGXCPU included.
        signal.signal(signal.SIGXCPU, lambda *_: os._exit(EXIT_XCPU))
        for folder in outputs.values():
            os.close(folder)
        if pipes:  # its events go to the collector, which answers each step on ACKS_FD
            os.dup2(pipes[1], EVENTS_FD)
            os.dup2(pipes[2], ACKS_FD)
            for end in pipes:
                os.close(end)
        return
    # Asked to stop, end the lab's process; its outputs are still copied out.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    if not pipes:
        code = _wait(pid)
        for path, folder in outputs.items():
            _copy_out(path, folder)
        _exit_as(code)
    ((path, folder),) = outputs.items()
    os.close(pipes[1])
    os.close(pipes[2])
    collector = Collector(path, folder, pipes[0], pipes[3])
    collector.run()
    code = _wait(pid)
    collector.check("")  # whatever the lab's last processes wrote before they ended
    _exit_as(code)


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
        os._exit(1)  # the inputs were writable: the confinement did not hold
    except OSError:
        pass
    if _libc().unshare(CLONE_NEWUSER) == 0:
        os._exit(2)  # a user namespace would give the lab the power to undo its cgroups
    os._exit(0)


def make_unreachable() -> None:
    """Keep processes of the same user from this one's files, memory and folders in /proc.

    Inherited by every child forked later.
    """
    _call(_libc().prctl, PR_SET_DUMPABLE, 0, 0, 0, 0)


def _keep_only(confinement: Confinement) -> dict[str, int]:
    """Cover the work folder, then mount back just this lab's inputs at their own paths.

    Each output path gets a small tmpfs of its own; returns, for each, an open descriptor
    of the real folder, where ``_copy_out`` puts what the lab left once it has ended.
    """
    kept = [(path, True) for path in confinement.inputs]
    # Python or labkit may live under /tmp, which the child's own /tmp would hide.
    kept += [(path, True) for path in _mounts_under("/tmp", confinement.workdir)]
    outputs = {path: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in confinement.outputs}
    # HOLD is shared by every child until each mounts its own over it.
    _mount("none", HOLD, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=700")
    folders = [os.path.isdir(path) for path, _ in kept]  # a mount may be a single file
    for number, (path, _) in enumerate(kept):
        hold = f"{HOLD}/{number}"
        _make_mount_point(hold, folders[number])
        _mount(path, hold, None, MS_BIND | MS_REC)
    # A private /tmp first: the work folder itself may be under /tmp.
    _mount("none", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={TMP_BYTES},mode=1777")
    os.makedirs(confinement.workdir, exist_ok=True)
    _mount("none", confinement.workdir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    for number, (path, _) in enumerate(kept):
        _make_mount_point(path, folders[number])
        _mount(f"{HOLD}/{number}", path, None, MS_BIND | MS_REC)
        _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for path in outputs:  # capped in bytes and files, and charged to the lab's memory
        os.makedirs(path, exist_ok=True)
        limits = f"size={OUTPUT_BYTES},nr_inodes={OUTPUT_FILES},mode=777"
        _mount("none", path, "tmpfs", MS_NOSUID | MS_NODEV, limits)
    _mount(None, confinement.workdir, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return outputs


def _make_mount_point(path: str, folder: bool) -> None:
    """An empty folder or file at ``path``, with its parents, for a mount to cover."""
    if folder:
        os.makedirs(path, exist_ok=True)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _mounts_under(folder: str, excluded: str) -> list[str]:
    """The outermost mount points inside ``folder``, leaving out those inside ``excluded``."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            point = OCTAL_ESCAPE.sub(lambda match: chr(int(match[1], 8)), line.split()[4])
            if _inside(point, folder) and not _inside(point, excluded) and point != excluded:
                found.append(point)
    return [point for point in found if not any(_inside(point, other) for other in found)]


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


@dataclass
class Collector:
    """The lab's parent, which takes each step's files as soon as the step reports them.

    It reads the lab's events, passes each line on to the server, and when a step has
    ended copies the files the step names into the real output folder, each only if its
    SHA-256 is the one the step gives, then answers on the acks pipe so that the harvest
    goes on to the next call. Files changed after they were taken, and files no step names,
    it reports in lines of its own (``labkit.sandbox.records``); a line of the lab's that
    claims to be one of those is reported, not passed on.
    """

    path: str  # the lab's output folder, as the lab sees it
    folder: int  # the real output folder
    events: int  # the lab's events, read here
    acks: int  # one byte for each step whose files were taken
    kept: dict[str, str] = field(default_factory=dict)  # file: its SHA-256 when taken
    told: set[str] = field(default_factory=set)  # files already reported

    def run(self) -> None:
        """Pass on the lab's events and take each step's files, until the lab has ended."""
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a server or a lab gone: EPIPE
        partial = b""
        while True:
            try:
                chunk = os.read(self.events, 65536)
            except OSError:
                break
            if not chunk:
                break
            *lines, partial = (partial + chunk).split(b"\n")
            partial = partial[-MAX_EVENT_LINE:]
            for line in lines:
                self._line(line)
        os.close(self.events)

    def check(self, step: str) -> None:
        """Report each file that changed since it was taken, or that no step named.

        Once the lab has ended (``step`` is ''), only the changes: a lab stopped in the middle
        of a step leaves files the step never got to name, and they go no further.
        """
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(self.path))[:OUTPUT_FILES]:
                if name in self.told:
                    continue
                if name not in self.kept:
                    if step:
                        self._tell(name, "unexplained", step)
                elif _digest(os.path.join(self.path, name)) != self.kept[name]:
                    self._tell(name, "rewritten", step)

    def _line(self, line: bytes) -> None:
        if COLLECTOR_KEY in line:
            self._tell("", "claimed", "")
            return
        _write_all(EVENTS_FD, line + b"\n")
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("status") in (None, "started"):
            return
        files = event.get("files")
        step = str(event.get("step"))
        for name, digest in files.items() if isinstance(files, dict) else ():
            if isinstance(name, str) and name not in self.kept and _plain(name):
                with contextlib.suppress(OSError):
                    self._take(name, str(digest), step)
        self.check(step)
        with contextlib.suppress(OSError):
            os.write(self.acks, b"1")

    def _take(self, name: str, digest: str, step: str) -> None:
        """Copy ``name`` into the real folder if it is what the step says it saved."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
        part = f".{name}.part"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part, dir_fd=self.folder)
        with open(os.open(os.path.join(self.path, name), flags), "rb") as reader:
            if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
                return
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with open(os.open(part, flags, 0o600, dir_fd=self.folder), "wb") as writer:
                hashed = hashlib.sha256()
                while chunk := reader.read(2**20):
                    hashed.update(chunk)
                    writer.write(chunk)
        if hashed.hexdigest() == digest:
            os.rename(part, name, src_dir_fd=self.folder, dst_dir_fd=self.folder)
            self.kept[name] = digest
        else:
            os.unlink(part, dir_fd=self.folder)
            self._tell(name, "changed", step)

    def _tell(self, name: str, what: str, step: str) -> None:
        self.told.add(name)
        finding = {COLLECTOR: {"file": name, "what": what, "step": step}}
        _write_all(EVENTS_FD, json.dumps(finding).encode() + b"\n")


def _plain(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and not name.startswith(".")


def _digest(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data) :]


def _copy_out(path: str, folder: int) -> None:
    """Copy the regular files the lab left in ``path`` into the real folder ``folder``.

    Runs once the lab's PID namespace, and so everything the lab started, is gone.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    for entry in sorted(os.listdir(path))[:OUTPUT_FILES]:
        try:
            source = os.open(os.path.join(path, entry), flags)
        except OSError:
            continue
        with open(source, "rb") as reader:
            if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
                continue
            copy = os.open(entry, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=folder)
            with open(copy, "wb") as writer:
                shutil.copyfileobj(reader, writer)


def _join_new_keyring() -> None:
    """Leave the grader's session keyring, which the sandbox would otherwise share."""
    number = KEYCTL_SYSCALLS.get(platform.machine())
    if number is not None and _libc().syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        error = ctypes.get_errno()
        raise ConfinementFailed(error, f"keyctl: {os.strerror(error)}")


def _drop_capabilities() -> None:
    """Give up every capability, so the mounts above stay as they are."""
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted and inheritable, twice 32 bits: none
    _call(_libc().capset, header, data)


def _wait(pid: int) -> int:
    """The lab's exit status; an end at the CPU limit is told as the SIGXCPU it stands for.

    The lab's process is PID 1 of its namespace, where SIGXCPU only ends it through the
    handler ``confine`` gives it, with EXIT_XCPU, or the kernel's SIGKILL at the hard limit
    ends it, and its CPU time says that the limit was reached.
    """
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == EXIT_XCPU:
        return -signal.SIGXCPU
    limit, _ = resource.getrlimit(resource.RLIMIT_CPU)
    # The kernel's per-process usage runs a little behind the clock the limit is kept on.
    used = (usage.ru_utime + usage.ru_stime) / CPU_ACCOUNTING_SLACK
    if code != 0 and limit != resource.RLIM_INFINITY and used >= limit:
        return -signal.SIGXCPU
    return code


def _exit_as(code: int) -> None:
    """Exit with the lab's status; killed by a signal, die by the same one, to tell the grader."""
    if code < 0:
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP keep their default
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str = "") -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _call(_libc().mount, encode(source), target.encode(), encode(kind), flags, data.encode())


def _call(function: ctypes._CFuncPtr, *args: object) -> None:
    if function(*args) != 0:
        number = ctypes.get_errno()
        raise ConfinementFailed(number, f"{function.__name__}: {os.strerror(number)}")
