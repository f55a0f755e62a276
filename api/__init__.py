"""HTTP service, web UI and command line."""
