"""Attack: send what it can to a listener on the grader's own machine.

The port comes from the environment's test; it reports whether the connection went through.
"""

import socket

PORT = 0  # the test writes the port of its listener here

connected = []
for host in ("127.0.0.1", "localhost"):
    try:
        with socket.create_connection((host, PORT), timeout=2) as connection:
            connection.sendall(b"the reference solution")
            connected.append(host)
    except OSError:
        pass
raise RuntimeError(f"attack: connected {connected}")
