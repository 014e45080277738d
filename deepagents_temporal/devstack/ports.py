"""Loopback ports: is one free, does one answer, and a picker that hands out
distinct free ones (reusing a saved set when it is still free)."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Sequence


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(port: int) -> bool:
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortPicker:
    """Hands out distinct free loopback ports."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def claim(self, port: int) -> bool:
        if port in self.taken or not port_free(port):
            return False
        self.taken.add(port)
        return True

    def free(self) -> int:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in self.taken:
                self.taken.add(port)
                return port
        raise RuntimeError("could not find a free TCP port on 127.0.0.1")

    def free_pair(self, offset: int) -> int:
        """A free port P such that P + offset is free too."""
        rng = random.Random()
        for _ in range(500):
            port = rng.randint(15000, 65535 - offset - 1)
            if port in self.taken or port + offset in self.taken:
                continue
            if port_free(port) and port_free(port + offset):
                self.taken.update((port, port + offset))
                return port
        raise RuntimeError("could not find a free pair of TCP ports on 127.0.0.1")

    def group(
        self,
        saved: dict[str, int] | None,
        names: Sequence[str],
        fresh: Callable[[], dict[str, int]],
        derived: Callable[[dict[str, int]], list[int]] = lambda _ports: [],
    ) -> dict[str, int]:
        """Reuse a saved set of ports when all of them are still free, else pick fresh ones."""
        if saved and all(isinstance(saved.get(n), int) for n in names):
            ports = {n: saved[n] for n in names}
            wanted = [*ports.values(), *derived(ports)]
            if len(set(wanted)) == len(wanted) and not (set(wanted) & self.taken) and all(map(port_free, wanted)):
                self.taken.update(wanted)
                return ports
        return fresh()
