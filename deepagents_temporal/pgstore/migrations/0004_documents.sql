-- The RAG index (deepagents_temporal/rag/): documents and their chunks, per collection.
-- A document is known by (collection, name); its sha256 tells whether it changed.
CREATE TABLE rag_documents (
    document_id bigserial PRIMARY KEY,
    collection text NOT NULL,
    name text NOT NULL,
    sha256 text NOT NULL,
    kind text NOT NULL,
    title text,
    size bigint NOT NULL,
    chunk_count integer NOT NULL,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection, name)
);

CREATE TABLE rag_chunks (
    document_id bigint NOT NULL REFERENCES rag_documents (document_id) ON DELETE CASCADE,
    position integer NOT NULL,
    content text NOT NULL,
    -- Keyword search: ranked with ts_rank_cd.
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    -- Which model made the embedding below (NULL: not embedded yet).
    embedding_model text,
    PRIMARY KEY (document_id, position)
);
CREATE INDEX rag_chunks_tsv_idx ON rag_chunks USING gin (tsv);

-- The embedding: a pgvector `vector` when the server has pgvector and this role may
-- create it, else `real[]`, with cosine similarity computed in SQL (rag_cosine).
-- Search reads the column's type to know which (deepagents_temporal/rag/search.py).
DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS vector;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pgvector not available (%), embeddings are real[]', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        ALTER TABLE rag_chunks ADD COLUMN embedding vector;
    ELSE
        ALTER TABLE rag_chunks ADD COLUMN embedding real[];
    END IF;
END
$$;

CREATE FUNCTION rag_cosine(a real[], b real[]) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN sum(x * x) = 0 OR sum(y * y) = 0 THEN 0
                ELSE sum(x * y) / (sqrt(sum(x * x)) * sqrt(sum(y * y))) END
    FROM unnest(a::double precision[], b::double precision[]) AS t(x, y)
$$;
