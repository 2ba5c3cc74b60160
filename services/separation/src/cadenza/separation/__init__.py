"""Separation service: splits tracks into stems with Demucs or a classical method."""
