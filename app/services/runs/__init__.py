"""The live side of a run: launching and watching its FL server (`launcher`, `serving`),
ingesting what the hub carries into the database (`ingest`) and re-emitting it as live
events (`events`), local edge processes, the control center that holds it all together,
and the one-command demo."""
