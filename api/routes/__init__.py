"""One router per resource."""

from api.routes import (applicability, audit, coverage, documents, frameworks, jobs, keys, narratives, proposals,
                        system, workspaces)

ROUTERS = [system.router, keys.router, workspaces.router, documents.router, frameworks.router, proposals.router,
           audit.router, coverage.router, narratives.router, jobs.router,
           applicability.router]
