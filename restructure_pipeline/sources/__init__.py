"""Readers for the pipeline's inputs: the legacy ``Customer`` table and CSV drop files."""
