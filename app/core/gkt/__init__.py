"""FedGKT (group knowledge transfer): small models on the edges, a large one on the server,
trained on each other's logits (He et al. 2020)."""
