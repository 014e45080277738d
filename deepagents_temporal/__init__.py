"""Shared code of the durable deep-agent backend: settings, agent profiles, tool
schemas, the file backends, the conversation and payload stores, the PostgreSQL
store, the embedded dev stack and the connections to every service.

Nothing here imports ``workflows/``, ``activities/``, ``worker.py`` or the CLI;
see docs/architecture.md for who owns what.
"""
