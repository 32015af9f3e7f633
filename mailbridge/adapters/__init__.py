"""Inbound adapters: they move bytes to intake and translate library errors. Nothing more."""
