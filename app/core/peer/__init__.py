"""Server-free runs: the trust graph, an edge's side of a round, the control center's keeping."""
