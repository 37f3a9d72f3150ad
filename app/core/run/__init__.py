"""The server side of a run: the FL server, its round protocol, and what it sends and keeps."""
