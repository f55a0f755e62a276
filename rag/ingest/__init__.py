"""Ingestion: detect, parse, chunk, store, index."""
