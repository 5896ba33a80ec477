"""The runtime (host): agent registry, one mailbox and process per agent, requests, events."""

from ._config import RuntimeConfig, default_home
from ._host import Runtime, relay_prompt

__all__ = ["Runtime", "RuntimeConfig", "default_home", "relay_prompt"]
