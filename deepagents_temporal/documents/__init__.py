"""Documents as text: what the fetch tool, the document and onboarding workflows
and the RAG index read, whatever the format they arrived in."""
