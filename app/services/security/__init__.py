"""Who may do what: acting users and roles (`auth`), edge and service tokens (`tokens`), the
policy every hub asks (`hub_access`), Mosquitto password and ACL files
(`mosquitto_config`), and the local certificate authority (`certs`). Imports no other
part of `app.services`."""
