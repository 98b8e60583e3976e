"""Meter ingestion adapters (MQTT, HTTP, Modbus/SunSpec): bytes to readings."""
