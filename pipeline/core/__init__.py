"""Paths, quarters, params and formatting: imports nothing else in pipeline."""
