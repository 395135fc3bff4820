"""Helpers that turn results into the book's tables and figures, and run the book's notebooks."""
