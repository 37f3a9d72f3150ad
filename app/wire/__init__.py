"""What crosses the hub, beneath both the runtimes (`app.core`) and the transports
(`app.backends`): the message format, the zero-copy safetensors codec, chunking and its
limits, the topic scheme, and the `Hub` contract. Imports nothing else of FedDeck but
`app.errors`."""
