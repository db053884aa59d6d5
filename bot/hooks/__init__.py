"""Inbound hooks: deliveries stored once on the request path, processed later as due work."""
