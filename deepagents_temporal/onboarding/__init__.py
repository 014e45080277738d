"""Client onboarding: a checklist template, a client's documents, the fields the model extracts,
their validation, the wait for a person to supply what is missing, and the report."""
