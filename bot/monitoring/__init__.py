"""Alerts from monitoring (Alertmanager, Grafana) on the services releases ship."""
