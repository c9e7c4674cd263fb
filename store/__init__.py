"""Documents in, searchable chunks out: loading, cleaning, chunking, embedding, the index."""

from .chunking import Chunk, chunk_text, sentence_spans
from .clean import clean_article
from .documents import Document, find_files, from_record, load, parse
from .embedder import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder, resolve_model
from .errors import CorpusQAError, InputError, StoreError
from .index import Index, StoredChunk, embedding_text, sentence_id
from .ingest import ChunkingOptions, IngestReport, ingest_documents, load_paths
from .keyword import KeywordHit, KeywordIndex

__all__ = [
    "Chunk", "ChunkingOptions", "CorpusQAError", "DEFAULT_MODEL", "Document", "Embedder",
    "Index", "IngestReport", "InputError", "KeywordHit", "KeywordIndex",
    "SentenceTransformerEmbedder", "StoreError", "StoredChunk", "chunk_text", "clean_article",
    "embedding_text", "find_files", "from_record", "ingest_documents", "load", "load_paths", "parse",
    "resolve_model", "sentence_id", "sentence_spans",
]
