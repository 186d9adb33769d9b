"""The report: the tables of a run's results, and docs/benchmarks.md written from
``report.md.tmpl`` (its prose, with the tables, the machine and the settings filled
in) and ``findings.md``."""

from __future__ import annotations

import math
import time
from pathlib import Path
from string import Template

from bench import costcurve, scale, scaletargets
from bench.probes import POLL_INTERVAL, RESYNC_MINUTES, Plan
from bench.results import TARGET_SIZE, ModeResult, Results

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "report.md.tmpl"
FINDINGS = HERE / "findings.md"


def f(x: float, digits: int = 1) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:,.{digits}f}"


def main_table(results: Results) -> str:
    head = (
        "| nodes | exporter | mode | scrape p50 / p99 ms | body MB | series | RSS MiB (peak) "
        "| CPU s/min | API req/min | API MB/min | event→metric p50 / p99 ms "
        "| task→metric p50 / p99 s | gzip % | longest callback ms (own CPU) |\n"
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for size in results.sizes:
        for r in size.modes:
            conc = "" if r.concurrency == 4 else f" (x{r.concurrency})"
            missed_e = f", {r.event_missed} missed" if r.event_missed else ""
            missed_t = f", {r.task_missed} missed" if r.task_missed else ""
            cb = r.callbacks
            longest = f"{f(float(cb['max_ms']))} ({f(float(cb['max_cpu_ms']))})" if cb else "n/a"
            rows.append(
                f"| {r.nodes:,} | {r.exporter} | {r.mode} "
                f"| {f(r.scrape_p50_ms)} / {f(r.scrape_p99_ms)}{conc} "
                f"| {f(r.body_bytes / 1e6, 2)} | {r.series:,} "
                f"| {f(r.rss_mib, 0)} ({f(r.hwm_mib, 0)}) | {f(r.cpu_per_min)} "
                f"| {f(r.api_req_per_min, 0)} | {f(r.api_mb_per_min)} "
                f"| {f(r.event_p50, 0)} / {f(r.event_p99, 0)} (n={len(r.event_ms)}{missed_e}) "
                f"| {f(r.task_p50, 2)} / {f(r.task_p99, 2)} (n={len(r.task_s)}{missed_t}) "
                f"| {f(r.gzip_share * 100, 0)} | {longest} |"
            )
    return head + "\n".join(rows) + "\n"


def targets(results: Results) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, at, met)."""
    size = next((s for s in results.sizes if s.nodes == TARGET_SIZE), None)
    if size is None:
        return []

    def mode(exporter: str, m: str) -> ModeResult | None:
        return next((r for r in size.modes if r.exporter == exporter and r.mode == m), None)

    ss, base = mode("swarm-sentinel", "churn"), mode("baseline", "churn")
    out: list[tuple[str, str, str, bool | None]] = []
    at = f"{size.nodes:,} nodes / {size.services:,} services / {size.current_tasks:,} tasks, churn"
    if ss is not None:
        out.append(("scrape p99 ≤ 25 ms", f"{f(ss.scrape_p99_ms)} ms", at, ss.scrape_p99_ms <= 25))
        out.append(
            (
                "RSS ≤ 200 MiB",
                f"{f(ss.rss_mib, 0)} MiB (peak {f(ss.hwm_mib, 0)})",
                at,
                ss.rss_mib <= 200,
            )
        )
        out.append(
            (
                "event → metric p99 ≤ 50 ms",
                f"{f(ss.event_p99, 0)} ms ({ss.event_missed} missed)",
                at,
                ss.event_p99 <= 50 and ss.event_missed == 0,
            )
        )
        out.append(
            (
                f"task change → metric ≤ poll interval + 1 s ({POLL_INTERVAL + 1:.0f} s)",
                f"p99 {f(ss.task_p99, 2)} s ({ss.task_missed} missed)",
                at,
                ss.task_p99 <= POLL_INTERVAL + 1 and ss.task_missed == 0,
            )
        )
    if ss is not None and base is not None:
        ratio = base.api_mb_per_min / ss.api_mb_per_min if ss.api_mb_per_min else math.nan
        out.append(
            (
                "Docker API bytes/min ≥ 20x below the baseline (15 s scrapes)",
                f"{f(ratio)}x ({f(ss.api_mb_per_min)} vs {f(base.api_mb_per_min)} MB/min)",
                at,
                ratio >= 20,
            )
        )
    if size.healer:
        h = size.healer[0]
        out.append(
            (
                "healer evaluation over all services ≤ 20 ms",
                f"p50 {f(h.p50_ms)} ms, p99 {f(h.p99_ms)} ms ({h.services:,} services)",
                f"{size.nodes:,} nodes, scope=all, dry run",
                h.p99_ms <= 20,
            )
        )
    return out


def targets_table(results: Results) -> str:
    rows = ["| target | measured | at | met |", "|---|---|---|---|"]
    for name, measured, at, met in scaletargets.targets(results) + targets(results):
        rows.append(f"| {name} | {measured} | {at} | {'met' if met else '**missed**'} |")
    return "\n".join(rows) + "\n"


def extras_tables(results: Results) -> str:
    parts = []
    rows = [
        "| nodes | exporter | ready after s | CPU s | API MB read | RSS MiB after |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for s in results.sizes:
        for kind, v in s.sync.items():
            rows.append(
                f"| {s.nodes:,} | {kind} | {f(v['seconds'])} | {f(v['cpu'])} "
                f"| {f(v['api_bytes'] / 1e6, 0)} | {f(v['rss_mib'], 0)} |"
            )
    parts.append("### Start-up (first full listing)\n\n" + "\n".join(rows) + "\n")
    rows = [
        "| nodes | worst scrape s | scrapes | errors | CPU s "
        "| relist done after s (it starts at the next poll) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results.sizes:
        if s.relist:
            r = s.relist
            took = f(r["seconds"]) if r["finished"] else f"not within {r['limit_s']:.0f}"
            rows.append(
                f"| {s.nodes:,} | {f(r['worst_scrape_s'], 2)} | {r['scrapes']:.0f} "
                f"| {r['errors']:.0f} | {f(r['cpu_s'])} | {took} |"
            )
    parts.append(
        f"### swarm-sentinel during a full relist (every {RESYNC_MINUTES:g} min, after an event "
        "it could not follow up, after a long loss of the event stream), under churn\n\n"
        + "\n".join(rows)
        + "\n"
    )
    rows = [
        "| nodes | services | scope | p50 ms | p99 ms | max ms | broken services "
        "| decisions in last pass | model built in s |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results.sizes:
        for h in s.healer:
            rows.append(
                f"| {s.nodes:,} | {h.services:,} | {h.scope} | {f(h.p50_ms)} | {f(h.p99_ms)} "
                f"| {f(h.max_ms)} | {h.broken} | {h.decided} | {f(s.healer_model_seconds)} |"
            )
    parts.append(
        "### Healer policy evaluation (in-process, dry run, passes 5 s apart)\n\n"
        + "\n".join(rows)
        + "\n"
    )
    parts.append(scaletargets.tables(results))
    if results.cost_curve:
        rows = [
            "| series | nodes | services | body MB | scrape after a change ms "
            "| scrape cached ms | full publish s | RSS growth MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in results.cost_curve:
            rows.append(
                f"| {p['series']:,.0f} | {p['nodes']:,.0f} | {p['services']:,.0f} "
                f"| {f(p['body_bytes'] / 1e6)} | {f(p['render_ms'], 2)} "
                f"| {f(p['render_cached_ms'], 2)} | {f(p['publish_seconds'], 2)} "
                f"| {f(p['rss_mib'], 0)} |"
            )
        xs = [p["series"] for p in results.cost_curve]
        a1, b1, r1 = costcurve.fit(xs, [p["render_ms"] for p in results.cost_curve])
        a2, b2, r2 = costcurve.fit(xs, [p["rss_mib"] for p in results.cost_curve])
        a3, _b3, r3 = costcurve.fit(xs, [p["publish_seconds"] for p in results.cost_curve])
        parts.append(
            "### Cost curve (in-process: SwarmModel + TextStore + render_metrics)\n\n"
            + "\n".join(rows)
            + "\n\nLeast-squares lines through the points: scrape after a change "
            f"{a1 * 1e6:.0f} ns/series ({b1:+.2f} ms), R² {r1:.3f}; memory "
            f"{a2 * 1024 * 1024:.0f} bytes/series ({b2:+.0f} MiB), R² {r2:.3f}; full publish "
            f"{a3 * 1e6:.2f} µs/series, R² {r3:.3f}. Per series, the scrape after a change "
            "costs "
            + ", ".join(f"{p['render_ms'] * 1e6 / p['series']:.0f}" for p in results.cost_curve)
            + " ns from the smallest point to the largest.\n"
        )
    if results.load:
        L = results.load
        parts.append(
            f"### Load test: {L['scrapers']:.0f} concurrent scrapers for {L['seconds']:.0f} s "
            f"against swarm-sentinel at {L['nodes']:,.0f} nodes, under churn\n\n"
            "| scrapes | scrapes/s | errors | p50 ms | p99 ms | max ms |\n"
            "|---:|---:|---:|---:|---:|---:|\n"
            f"| {L['scrapes']:,.0f} | {f(L['per_second'])} | {L['errors']:.0f} "
            f"| {f(L['p50_ms'])} | {f(L['p99_ms'])} | {f(L['max_ms'])} |\n"
        )
    if results.burst:
        B = results.burst
        drained = (
            f(B["drained_s"])
            if not math.isnan(B["drained_s"])
            else f"not within {B['limit_s']:.0f} s ({B['handled']:,.0f} handled)"
        )
        parts.append(
            f"### Event burst: {B['events']:,.0f} events in 1 s against swarm-sentinel at "
            f"{B['nodes']:,.0f} nodes (churn off)\n\n"
            "| worst scrape ms | p99 ms | p50 ms | scrapes | errors | all events handled after s "
            "| full relists meanwhile | event-stream reconnects |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            f"| {f(B['worst_scrape_ms'])} | {f(B['p99_ms'])} | {f(B['p50_ms'])} "
            f"| {B['scrapes']:.0f} | {B['errors']:.0f} | {drained} "
            f"| {B['full_relists']:.0f} | {B['stream_reconnects']:.0f} |\n"
        )
    return "\n".join(parts)


def render(results: Results) -> str:
    """docs/benchmarks.md for ``results``."""
    m = results.machine
    findings = FINDINGS.read_text() if FINDINGS.exists() else ""
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        quick=" --quick" if results.quick else "",
        date=time.strftime("%Y-%m-%d", time.gmtime(results.started)),
        commit=m["commit"],
        minutes=f"{results.seconds / 60:.1f}",
        cpu=m["cpu"],
        cores=m["cores"],
        memory=m["memory"],
        python=m["python"],
        kernel=m["kernel"],
        load_at_start=m["load_at_start"],
        main_table=main_table(results),
        target_nodes=f"{TARGET_SIZE:,}",
        target_services=f"{5 * TARGET_SIZE:,}",
        target_tasks=f"{50 * TARGET_SIZE:,}",
        targets_table=targets_table(results),
        findings=findings,
        extras_tables=extras_tables(results),
        scale_table=scale.table(results),
        scale_plot=scale.PLOT,
        poll_interval=f"{POLL_INTERVAL:g}",
        resync_minutes=f"{RESYNC_MINUTES:g}",
        conc_seconds=f"{Plan().conc_seconds:.0f}",
    )


def write_doc(results: Results, path: Path) -> None:
    if not scale.plot(results, path.parent / scale.PLOT):
        print(f"no {scale.PLOT}: matplotlib is missing (pip install -e '.[dev]')")
    path.write_text(render(results))
