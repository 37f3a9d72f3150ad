"""Hub implementations of `app.wire.hub.Hub`, one package per transport named in
`app.wire.transports`: `local` (in-process), `mqtt/` (paho client, embedded amqtt broker),
`grpc/` (hub service and client); `factory` (a hub client by URL) and `embedded` (the hubs
the control center runs). Each transport is imported only when used."""
