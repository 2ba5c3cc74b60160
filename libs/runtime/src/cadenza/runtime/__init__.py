"""Runtime shared by every Cadenza service: settings, bus, storage, logging, metrics."""
