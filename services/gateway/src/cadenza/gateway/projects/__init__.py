"""Projects: shared workspaces with per-project roles (README.md, "Projects")."""
