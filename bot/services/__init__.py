"""Use cases over the domain and storage; each service gets its dependencies in its constructor."""
