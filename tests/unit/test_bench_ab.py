"""bench.ab's reading of a side's own counters from a scrape, gzipped or not."""

from __future__ import annotations

import gzip

from bench.ab import inspects, plain
from bench.probes import followed

BODY = b"""# HELP dockerswarm_exporter_api_requests_total Docker Engine API requests made.
# TYPE dockerswarm_exporter_api_requests_total counter
dockerswarm_exporter_api_requests_total{endpoint="service"} 120.0
dockerswarm_exporter_api_requests_total{endpoint="node"} 7.0
dockerswarm_exporter_api_requests_total{endpoint="services"} 30.0
dockerswarm_exporter_api_response_bytes_total{endpoint="service"} 9e+06
"""


def test_a_gzipped_scrape_reads_as_the_plain_one() -> None:
    assert plain(gzip.compress(BODY)) == BODY
    assert plain(BODY) == BODY


def test_inspects_count_only_the_calls_made_per_event() -> None:
    # Lists (``services``) and byte counters are not follow-ups of an event.
    assert inspects(BODY) == 127.0
    assert inspects(b"") == 0.0


def test_a_burst_is_applied_when_every_event_came_and_none_waits() -> None:
    body = BODY + (
        b'dockerswarm_exporter_events_total{event_type="service"} 900.0\n'
        b'dockerswarm_exporter_events_total{event_type="node"} 100.0\n'
        b"dockerswarm_exporter_event_follow_ups 3.0\n"
    )
    assert followed(body) == (1000.0, 3.0)
    assert followed(BODY) is None  # an older version: the inspects tell
