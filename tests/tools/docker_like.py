"""Run a command confined the way Docker's defaults confine a container's processes.

Docker's default seccomp profile makes the calls that create or enter namespaces, and
mount, fail with EPERM for a process without CAP_SYS_ADMIN (and clone3 with ENOSYS, so
that clone is used), and its default capability set lacks CAP_SYS_ADMIN and most others.
This launcher installs such a filter, then runs the command through capsh with every
capability outside Docker's default set dropped, as root.

It needs the system Python's seccomp binding (Debian: python3-seccomp) and capsh
(libcap2-bin). Usage: ``/usr/bin/python3 tests/tools/docker_like.py COMMAND [ARG...]``
"""

import errno
import os
import sys

import seccomp

# The namespaces clone() may not ask for: Docker's profile allows clone only without them.
NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
# Allowed by Docker's profile only with CAP_SYS_ADMIN, which a container does not have.
REFUSED = ("unshare", "setns", "mount", "umount2", "pivot_root", "keyctl", "add_key")
# Docker's default capabilities; every other one is dropped.
DOCKER_CAPABILITIES = {
    "chown",
    "dac_override",
    "fsetid",
    "fowner",
    "mknod",
    "net_raw",
    "setgid",
    "setuid",
    "setfcap",
    "setpcap",
    "net_bind_service",
    "sys_chroot",
    "kill",
    "audit_write",
}
ALL_CAPABILITIES = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
]


def main() -> None:
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    rules.set_attr(seccomp.Attr.CTL_NNP, 0)  # as Docker: set-uid programs keep working
    for call in REFUSED:
        rules.add_rule(seccomp.ERRNO(errno.EPERM), call)
    for flag in NAMESPACE_FLAGS:
        rules.add_rule(
            seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)
        )
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    rules.load()
    with open("/proc/sys/kernel/cap_last_cap") as file:
        last = int(file.read())
    dropped = [
        f"cap_{name}" for name in ALL_CAPABILITIES[: last + 1] if name not in DOCKER_CAPABILITIES
    ]
    os.execvp(
        "capsh",
        ["capsh", f"--drop={','.join(dropped)}", "--", "-c", 'exec "$0" "$@"', *sys.argv[1:]],
    )


if __name__ == "__main__":
    main()
