"""Webhooks: an account names a URL and the job events it wants; the gateway calls it.

- `schemas`: the API's request and response models, and the payload a receiver gets.
- `events`: which webhook events a job fact makes (read against the projected job).
- `signing`: Standard Webhooks signatures (HMAC-SHA256 over `id.timestamp.body`).
- `targets`: which URLs may be called (no private, loopback, link-local or multicast
  addresses unless the operator allows them), checked when subscribing and when calling.
- `repository`: the SQL. `subscriptions`: the use cases behind the routes.
- `fanout`: a job fact → one delivery row per matching subscription (the feed's work).
- `feed`: the durable JetStream consumers that drive `fanout`. `delivery`: the loop that
  sends what is due, retrying with back-off.
"""
