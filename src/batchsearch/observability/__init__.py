"""Observability: Prometheus metrics, structured logs and the request middleware that feeds both."""
