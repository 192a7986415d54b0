"""The HTTP request metrics as /metrics renders them, pinned line for line."""

from __future__ import annotations

from component.metrics import Metrics

BOUNDS = ("0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
          "1.0", "2.5", "10.0", "+Inf")


def _histogram(endpoint: str, cumulative: list[int], total: str) -> list[str]:
    name = "qtalk_http_request_duration_seconds"
    return [*(f'{name}_bucket{{endpoint="{endpoint}",le="{bound}"}} {count}.0'
              for bound, count in zip(BOUNDS, cumulative, strict=True)),
            f'{name}_count{{endpoint="{endpoint}"}} {cumulative[-1]}.0',
            f'{name}_sum{{endpoint="{endpoint}"}} {total}']


def test_requests_by_endpoint_and_status_and_their_latency() -> None:
    metrics = Metrics()
    for endpoint, status, seconds in [
            ("/qtalk/send_message", 200, 0.0003), ("/qtalk/send_message", 207, 0.0007),
            ("/qtalk/send_message", 200, 0.03), ("unmatched", 404, 0.0001),
            ("/qtalk/send_message", 200, 0.0005), ("/qtalk/create_muc", 500, 12.5)]:
        metrics.observe_request(endpoint, status, seconds)
    lines = [line for line in metrics.render().decode().splitlines()
             if line.startswith("qtalk_http_")]
    assert lines == [
        'qtalk_http_requests_total{endpoint="/qtalk/create_muc",status="500"} 1.0',
        'qtalk_http_requests_total{endpoint="/qtalk/send_message",status="200"} 3.0',
        'qtalk_http_requests_total{endpoint="/qtalk/send_message",status="207"} 1.0',
        'qtalk_http_requests_total{endpoint="unmatched",status="404"} 1.0',
        *_histogram("/qtalk/create_muc", [0] * 13 + [1], "12.5"),
        *_histogram("/qtalk/send_message", [2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4], "0.0315"),
        *_histogram("unmatched", [1] * 14, "0.0001")]
