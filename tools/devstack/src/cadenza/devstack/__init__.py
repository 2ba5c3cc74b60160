"""The embedded platform: nats-server, PostgreSQL and every Cadenza service on one machine."""
