"""MQTT hub: paho-mqtt clients, and an embedded amqtt broker for the offline default."""
