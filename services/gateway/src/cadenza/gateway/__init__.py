"""Gateway: REST and WebSocket API; requests become events, facts become job state."""
