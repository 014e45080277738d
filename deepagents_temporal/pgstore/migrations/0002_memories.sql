-- Long-term memories (LangGraph BaseStore items) that outlive a run.
--
-- The namespace is a text[] compared in the "C" collation, so array order is
-- code-point order (the same as sorting Python tuples of str) and the primary
-- key's btree serves namespace-prefix searches as a range scan.

CREATE TABLE memories (
    namespace    text[] COLLATE "C" NOT NULL CHECK (cardinality(namespace) > 0),
    key          text NOT NULL,
    value        jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    ttl_minutes  double precision CHECK (ttl_minutes > 0),  -- NULL: never expires
    expires_at   timestamptz,                               -- refreshed on put and, optionally, on read
    PRIMARY KEY (namespace, key)
);

CREATE INDEX memories_expires_idx ON memories (expires_at) WHERE expires_at IS NOT NULL;
