"""The `deepagents-temporal` command line (also `python starter.py`).

``app`` declares the commands and their options; each command's work lives in
its own module here, and ``services`` starts what the commands talk to.
"""
