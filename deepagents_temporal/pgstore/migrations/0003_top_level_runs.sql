-- `starter.py list` shows top-level runs (not their sub-agents): a partial
-- index keeps that fast however many sub-agent rows there are.
CREATE INDEX runs_top_level_recent_idx ON runs (created_at DESC, run_id DESC) WHERE parent_run_id IS NULL;
