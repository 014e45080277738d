"""Documents as text: what the fetch tool, the document and onboarding workflows
and the RAG index read, whatever the format they arrived in (``convert.py``);
and the document workflow's parts: its contract (``schema.py``), sections
(``sections.py``), a section's notes (``notes.py``), its outputs
(``outputs.py``), its route (``route.py``) and the steps' bucket access
(``bucket.py``, shared with onboarding)."""
