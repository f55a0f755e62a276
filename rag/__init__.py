"""ctrlmap core: ingestion, retrieval, mapping, review, narrative, LLM and stores."""

__version__ = "0.1.0"
