"""Adapters that send commands to devices: OpenADR 2.0b (openleadr) and MQTT."""
