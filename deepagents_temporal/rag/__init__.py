"""Questions over documents: an index in PostgreSQL and the ``search_documents`` tool.

``chunking.py`` splits a document's text (from ``documents/convert.py``);
``index.py`` keeps documents and their chunks per collection (migration
``0004_documents``), idempotent and incremental by content hash;
``embeddings.py`` embeds chunks through langchain-openai when
``DEEPAGENT_EMBEDDINGS_MODEL`` is set; ``search.py`` ranks chunks by
keywords (``ts_rank_cd``) and, with embeddings, by cosine similarity, fused
by reciprocal rank. ``policy.py`` holds what workflow code needs. The
activity is ``activities/rag.py``; ``starter.py index`` is ``cli/index.py``.
"""
