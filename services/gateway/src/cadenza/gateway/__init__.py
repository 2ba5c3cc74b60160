"""Gateway: REST and WebSocket API; turns requests into events and projects facts into PostgreSQL."""
