"""The targets past Swarm3k (issue 23) and the tables that show them: per size, the
event burst, the status page's clients beside the scrapers, and the longest callbacks
of swarm-sentinel's main loop."""

from __future__ import annotations

import math

from bench.results import ModeResult, Results, SizeResult

Target = tuple[str, str, str, bool | None]


def _f(x: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(x) else f"{x:,.{digits}f}"


def _mode(size: SizeResult, exporter: str, mode: str) -> ModeResult | None:
    return next((r for r in size.modes if r.exporter == exporter and r.mode == mode), None)


def targets(results: Results) -> list[Target]:
    """(target, measured, at, met) for 1,000, 5,000 and 10,000 nodes, under churn."""
    out: list[Target] = []
    wanted = {
        1000: (25.0, 50.0),
        5000: (100.0, 250.0),
        10_000: (200.0, 500.0),
    }
    for size in results.sizes:
        limits = wanted.get(size.nodes)
        ss = _mode(size, "swarm-sentinel", "churn")
        if limits is None or ss is None:
            continue
        at = f"{size.nodes:,} nodes, churn"
        scrape, event = limits
        out.append(
            (
                f"scrape p99 ≤ {scrape:g} ms",
                f"{_f(ss.scrape_p99_ms)} ms",
                at,
                ss.scrape_p99_ms <= scrape,
            )
        )
        out.append(
            (
                f"event → metric p99 ≤ {event:g} ms",
                f"{_f(ss.event_p99, 0)} ms ({ss.event_missed} missed)",
                at,
                ss.event_p99 <= event and not ss.event_missed,
            )
        )
        if size.nodes == 1000:
            out.append(
                (
                    "gzip to ≥ 95 % of gzip-asking scrapes",
                    f"{_f(ss.gzip_share * 100)} %",
                    at,
                    ss.gzip_share >= 0.95,
                )
            )
        base = _mode(size, "baseline", "churn")
        if base is not None and size.nodes in (1000, 5000):
            ratio = base.api_mb_per_min / ss.api_mb_per_min if ss.api_mb_per_min else math.nan
            out.append(
                (
                    "API bytes ≥ 20x below the baseline",
                    f"{_f(ratio)}x ({_f(ss.api_mb_per_min)} vs {_f(base.api_mb_per_min)} MB/min)",
                    at,
                    ratio >= 20,
                )
            )
        if size.nodes == 5000 and size.burst:
            b = size.burst
            out.append(
                (
                    "the event burst handles every event it is sent",
                    f"{b['handled']:,.0f} of {b['events']:,.0f} in "
                    + (f"{_f(b['drained_s'])} s" if not math.isnan(b["drained_s"]) else "30 s"),
                    f"{size.nodes:,} nodes, churn off",
                    b["handled"] >= b["events"],
                )
            )
        if size.nodes == 5000 and ss.callbacks:
            cb = ss.callbacks
            out.append(
                (
                    "longest callback on the watcher's loop ≤ 10 ms",
                    f"{_f(float(cb['max_ms']))} ms ({_f(float(cb['max_cpu_ms']))} ms of its "
                    f"own CPU); over 10 ms: {cb['over']} ({cb['cpu_over']} by CPU) "
                    f"of {cb['count']:,}",
                    at,
                    float(cb["max_ms"]) <= 10,
                )
            )
        if size.nodes == 10_000:
            out.append(
                (
                    "RSS ≤ 1 GiB",
                    f"{_f(ss.rss_mib, 0)} MiB (peak {_f(ss.hwm_mib, 0)})",
                    at,
                    ss.rss_mib <= 1024,
                )
            )
    return out


def tables(results: Results) -> str:
    parts = []
    rows = [
        "| nodes | callbacks | over 10 ms (by own CPU) | longest ms (own CPU) "
        "| full collections (longest ms) | longest younger collection ms | the longest |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in results.sizes:
        ss = _mode(size, "swarm-sentinel", "churn")
        if ss is None or not ss.callbacks:
            continue
        cb = ss.callbacks
        top = "<br>".join(str(t).replace("|", "/") for t in cb.get("top", [])[:2])
        rows.append(
            f"| {size.nodes:,} | {cb['count']:,} | {cb['over']} ({cb['cpu_over']}) "
            f"| {_f(float(cb['max_ms']))} ({_f(float(cb['max_cpu_ms']))}) "
            f"| {cb['collections']} ({_f(float(cb['collection_max_ms']), 0)}) "
            f"| {_f(float(cb['young_max_ms']), 0)} | {top} |"
        )
    parts.append(
        "### The longest callbacks on swarm-sentinel's main loop, under churn "
        "(`bench/loopprobe.py`, over the whole mode: scrapes, probes)\n\n" + "\n".join(rows) + "\n"
    )
    rows = [
        "| nodes | /metrics p50 / p99 ms alone | with 4 page clients | pages served "
        "| page p50 / p99 ms | page KiB | page gzip |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results.sizes:
        p = size.pages
        if p:
            rows.append(
                f"| {size.nodes:,} | {_f(p['p50_ms'])} / {_f(p['p99_ms'])} "
                f"| {_f(p['with_pages_p50_ms'])} / {_f(p['with_pages_p99_ms'])} "
                f"| {p['pages']:,.0f} | {_f(p['page_p50_ms'])} / {_f(p['page_p99_ms'])} "
                f"| {_f(p['page_kib'], 0)} | {_f(p['page_gzip'] * 100, 0)} % |"
            )
    parts.append(
        "### /metrics while 4 clients reload the status page (4 gzip scrapers, churn, "
        "each part 8 s)\n\n" + "\n".join(rows) + "\n"
    )
    rows = [
        "| nodes | handled | all handled after s | worst scrape ms | p99 ms "
        "| full relists meanwhile | event-stream reconnects |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results.sizes:
        b = size.burst
        if b:
            rows.append(
                f"| {size.nodes:,} | {b['handled']:,.0f} of {b['events']:,.0f} "
                f"| {_f(b['drained_s'])} | {_f(b['worst_scrape_ms'])} | {_f(b['p99_ms'])} "
                f"| {b['full_relists']:.0f} | {b['stream_reconnects']:.0f} |"
            )
    parts.append(
        "### Event bursts: 10,000 events in 1 s against swarm-sentinel (churn off, one "
        "scraper, at most 30 s)\n\n" + "\n".join(rows) + "\n"
    )
    return "\n".join(parts)
