"""Projects: shared workspaces with per-project roles (README.md, "Projects and collaboration").

- `roles`: who may do what, one table by project role.
- `access`: a project as the caller may use it (404 / 403 / 409), the next event of a
  project, and recording it (folded and staged in the outbox in one transaction).
- `workspace`: create, list, read, settings, archive, restore, activity.
- `membership`: members, invitations, roles, removal, leaving, ownership transfer.
- `feedback`: comments (anchored, threaded, resolved) and reviewers' decisions.
- `mix_jobs`: a mix job from the shared mix (`cadenza.gateway.shared_mix`).
- `projection`: a project's events folded into the tables; `repository`: the SQL.
- `rooms`, `room_socket`: who is connected to each project, across replicas, and a
  member's WebSocket (presence, events, the shared mix live).
- `schemas`: what the API takes and answers.
"""
