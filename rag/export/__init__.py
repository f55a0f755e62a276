"""Writers: narratives (Markdown, Word), coverage (Markdown, PNG), proposals (CSV, JSON), texts."""
