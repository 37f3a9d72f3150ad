"""FedDeck: a desktop control center for federated learning."""

__version__ = "0.1.0"
