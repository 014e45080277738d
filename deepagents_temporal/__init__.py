"""Shared code for the durable deep-agent backend: settings, agent profiles,
the embedded dev stack, the scripted demo LLM and storage clients."""
