"""Distributed mode: a coordinator daemon and any number of worker hosts on one queue.

The daemon (``podium serve --redis URL``) keeps every record in Redis and sends
each turn to the workers as a job; ``podium worker --redis URL`` runs them.
See docs/deployment.md.
"""

from ._coordinator import ClusterSettings, Coordinator
from ._payload import NOOP_KIND, TURN_KIND
from ._remote import RemoteBackend, RemoteSession, remote_backends
from ._sessions import PortableBackend, WarmSessions
from ._watcher import JobWatcher
from ._worker import Worker, WorkerSettings, default_worker_id

__all__ = [
    "NOOP_KIND",
    "TURN_KIND",
    "ClusterSettings",
    "Coordinator",
    "JobWatcher",
    "PortableBackend",
    "RemoteBackend",
    "RemoteSession",
    "WarmSessions",
    "Worker",
    "WorkerSettings",
    "default_worker_id",
    "remote_backends",
]
