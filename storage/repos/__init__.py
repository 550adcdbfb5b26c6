"""Repositories: plain functions over a connection that return domain models or None."""
