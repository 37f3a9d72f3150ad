"""gRPC hub: a routing service every node streams to, and its client."""
