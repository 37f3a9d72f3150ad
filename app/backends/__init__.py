"""Hub implementations of `app.wire.hub.Hub`: `local` (in-process), `mqtt/` (paho client,
embedded amqtt broker), `grpc/` (hub service and client), `factory` (a hub by URL) and
`embedded` (the hubs the control center runs). Each transport is imported only when used."""
