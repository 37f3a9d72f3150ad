"""Hubs over a world of ranks a cluster engine started: rank 0 routes (see link)."""
