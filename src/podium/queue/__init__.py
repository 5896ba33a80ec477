"""The job queue every distributed piece talks to: one protocol, two engines.

``open_queue("sqlite:///path/queue.db")`` for the processes of one host,
``open_queue("redis://host:6379/0")`` for many hosts. See ``_protocol`` for the
contract (at-least-once delivery, fenced by the attempt number).
"""

from ._protocol import (
    DEFAULT_LANE,
    TERMINAL_JOB_STATES,
    Blob,
    Job,
    JobEvent,
    JobNotFound,
    JobQueue,
    JobState,
    QueueError,
    QueueUnavailable,
    StaleAttempt,
    WorkerInfo,
)
from ._redis import RedisQueue
from ._sqlite import SQLiteQueue
from ._url import open_queue

__all__ = [
    "DEFAULT_LANE",
    "TERMINAL_JOB_STATES",
    "Blob",
    "Job",
    "JobEvent",
    "JobNotFound",
    "JobQueue",
    "JobState",
    "QueueError",
    "QueueUnavailable",
    "RedisQueue",
    "SQLiteQueue",
    "StaleAttempt",
    "WorkerInfo",
    "open_queue",
]
