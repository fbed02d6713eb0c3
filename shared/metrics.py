"""Prometheus metrics shared by every component.

Metric objects are module-level (one registry per process), labelled by component so
dashboards can tell the services apart when scraped through one job.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "eyhub_http_requests_total",
    "HTTP requests answered",
    ["component", "method", "endpoint", "status"],
)
HTTP_LATENCY = Histogram(
    "eyhub_http_request_seconds",
    "Time to answer an HTTP request",
    ["component", "method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge(
    "eyhub_outbox_backlog", "Events written but not yet confirmed by the broker", ["component"]
)
DEAD_LETTERS = Gauge("eyhub_dead_letters", "Messages parked in dead letters", ["component"])
MAIL_BACKLOG = Gauge("eyhub_mail_backlog", "Mails waiting to be sent", ["component"])


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
