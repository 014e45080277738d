-- Run bookkeeping: one row per workflow run, its ordered decisions and its
-- artifact index. Temporal is the source of truth for execution; these
-- tables are what people query. Every write is an idempotent upsert.
--
-- No foreign keys between the tables on purpose: rows are written by
-- independent activities that may arrive in any order (a child run before
-- its parent's row, a decision before the run's STARTED row).

CREATE TABLE runs (
    run_id         text PRIMARY KEY,            -- the workflow id
    parent_run_id  text,                        -- set for sub-agent runs
    workflow_name  text NOT NULL,
    profile        text,
    agent          text,
    request        text,
    status         text NOT NULL CHECK (status IN ('STARTED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    error          text,
    models_used    text[] NOT NULL DEFAULT '{}',
    input_tokens   bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens  bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    total_tokens   bigint NOT NULL DEFAULT 0 CHECK (total_tokens >= 0)
);

-- "Recent runs", optionally by status; run_id breaks ties so pages are stable.
CREATE INDEX runs_recent_idx ON runs (created_at DESC, run_id DESC);
CREATE INDEX runs_status_recent_idx ON runs (status, created_at DESC, run_id DESC);
-- Sub-agent runs of a parent.
CREATE INDEX runs_parent_idx ON runs (parent_run_id, created_at DESC, run_id DESC)
    WHERE parent_run_id IS NOT NULL;

-- Statuses only move forward: STARTED < IN_PROGRESS < a terminal status.
CREATE FUNCTION run_status_rank(status text) RETURNS int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT CASE status
            WHEN 'STARTED' THEN 0
            WHEN 'IN_PROGRESS' THEN 1
            ELSE 2
        END
    $$;

CREATE TABLE decisions (
    run_id         text NOT NULL,
    seq            integer NOT NULL CHECK (seq >= 0),  -- assigned by the workflow, so replays hit the same row
    kind           text NOT NULL CHECK (kind IN ('model_call', 'tool_result', 'routing', 'validation')),
    agent          text,
    step           integer,
    model          text,
    attempt        integer,
    tool_calls     jsonb,
    summary        text,
    input_tokens   bigint,
    output_tokens  bigint,
    total_tokens   bigint,
    payload        jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE artifacts (
    run_id         text NOT NULL,
    key            text NOT NULL,               -- object key in the bucket
    size           bigint NOT NULL CHECK (size >= 0),
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type   text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, key)
);
