"""Attack: use the grader's kernel session keyring, where CI tools may keep tokens.

It reports the id of the session keyring it finds itself in.
"""

import ctypes
import platform

KEYCTL = {"x86_64": 250, "aarch64": 219}[platform.machine()]
KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING = 0, -3

libc = ctypes.CDLL(None, use_errno=True)
session = libc.syscall(KEYCTL, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
raise RuntimeError(f"attack: session keyring {session}")
