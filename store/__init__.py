"""Documents in, searchable chunks out: loading, cleaning, chunking, embedding, the index."""

from .chunking import Chunk, chunk_text, sentence_spans
from .clean import clean_article
from .documents import Document, Loaded, Skipped, find_files, from_record, load, load_paths, parse, read_jsonl
from .embedder import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder, resolve_model
from .errors import CorpusQAError, InputError, StoreError
from .filters import Filters, text_matches
from .index import Article, Index, StoredChunk, StoredDocument, embedding_text, sentence_id
from .ingest import ChunkingOptions, IngestReport, ingest_documents, remove_documents
from .keyword import KeywordHit, KeywordIndex
from .web import WebProgress, WebSettings, add_reports, check_web, ingest_urls, is_url

__all__ = [
    "Article", "Chunk", "ChunkingOptions", "CorpusQAError", "DEFAULT_MODEL", "Document", "Embedder", "Filters",
    "Index", "IngestReport", "InputError", "KeywordHit", "KeywordIndex", "Loaded", "SentenceTransformerEmbedder",
    "Skipped", "StoreError", "StoredChunk", "StoredDocument", "WebProgress", "WebSettings", "add_reports", "check_web", "chunk_text",
    "clean_article", "embedding_text", "find_files", "from_record", "ingest_documents", "ingest_urls", "is_url",
    "load", "load_paths", "parse", "read_jsonl",
    "remove_documents", "resolve_model", "sentence_id", "sentence_spans", "text_matches",
]
