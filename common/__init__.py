"""What the exporter, the healer, the app and the lab all need: nothing of their own."""
