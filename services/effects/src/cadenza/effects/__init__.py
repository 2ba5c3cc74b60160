"""Effects service: applies pedalboard effect chains to audio, chunk by chunk."""
