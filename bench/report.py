#!/usr/bin/env python3
"""Turn the benchmark's results (JSON lines from sockjs-load) into REPORT.md and chart.svg.

    python3 bench/report.py --results bench/report/results.jsonl --meta bench/report/meta.json \
        --markdown bench/report/REPORT.md --svg bench/report/chart.svg

Standard library only. Each workload family is reported per server as the median of its runs
with the min-max range; ratios are medians divided by medians.
"""

import argparse
import html
import json
import statistics
import sys

SERVERS = ["sockjs-rs", "sockjs-node", "bare"]
# A run during which other processes used more than this much CPU (percent of a core) is
# flagged as disturbed.
DISTURBED = 10.0
COLORS = {"sockjs-rs": "#c8553d", "sockjs-node": "#3c873a", "bare": "#7a7a7a"}

# family, title, {server: workload run against it}
FAMILIES = [
    ("ws-echo", "WebSocket echo throughput",
     {"sockjs-rs": "ws-echo", "sockjs-node": "ws-echo", "bare": "raw-ws-echo"}),
    ("ws-rtt", "WebSocket round trip, p50",
     {"sockjs-rs": "ws-rtt", "sockjs-node": "ws-rtt", "bare": "raw-ws-rtt"}),
    ("xhr-streaming", "xhr_streaming echo throughput",
     {"sockjs-rs": "xhr-streaming", "sockjs-node": "xhr-streaming"}),
    ("xhr-polling", "xhr polling echo throughput",
     {"sockjs-rs": "xhr-polling", "sockjs-node": "xhr-polling", "bare": "http-echo"}),
    ("broadcast", "Broadcast: send to last receipt, p50",
     {"sockjs-rs": "broadcast", "sockjs-node": "broadcast", "bare": "raw-broadcast"}),
    # The bare column of the two below is the bare room of `broadcast` (the same runs).
    ("room-broadcast", "Hub room broadcast (send_to_room): send to last receipt, p50",
     {"sockjs-rs": "room-broadcast", "bare": "raw-broadcast"}),
    ("endpoint-broadcast", "SockJs::broadcast: send to last receipt, p50",
     {"sockjs-rs": "endpoint-broadcast", "bare": "raw-broadcast"}),
    ("idle", "Idle websocket session: server RSS",
     {"sockjs-rs": "idle", "sockjs-node": "idle", "bare": "raw-idle"}),
    ("idle-xhr-streaming", "Idle xhr_streaming session: server RSS",
     {"sockjs-rs": "idle-xhr-streaming", "sockjs-node": "idle-xhr-streaming",
      "bare": "raw-idle-streaming"}),
]
# Families measuring the server's memory per idle session (kB of RSS).
IDLE_FAMILIES = ("idle", "idle-xhr-streaming", "stomp-idle")

# The STOMP workloads (issue 14): columns (key, server label, workload prefix, heading).
# sockjs-rs runs each over SockJS websocket sessions and over the endpoint's raw websocket,
# RabbitMQ's web-STOMP over plain websockets: the same client and workload.
STOMP_COLUMNS = [
    ("sockjs-rs", "sockjs-rs", "", "sockjs-rs (SockJS websocket)"),
    ("sockjs-rs/ws", "sockjs-rs", "raw-", "sockjs-rs (raw websocket)"),
    ("rabbitmq", "rabbitmq", "raw-", "RabbitMQ web-STOMP"),
]
STOMP_FAMILIES = [
    ("stomp-publish", "STOMP publish, each session to its own topic"),
    ("stomp-fanout", "STOMP fan-out: send to last delivery, p50"),
    ("stomp-idle", "Idle STOMP session (1 subscription): RSS"),
]
COLORS.update({"sockjs-rs/ws": "#e8a87c", "rabbitmq": "#ff6600"})


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                runs.append(json.loads(line))
    return runs


def disturbed(run):
    other = run.get("other_cpu_pct")
    return other is not None and other > DISTURBED


class Cell:
    """The runs of one workload on one server: the undisturbed ones if there are any."""

    def __init__(self, all_runs):
        quiet = [r for r in all_runs if not disturbed(r)]
        runs = quiet or all_runs
        self.runs = runs
        self.total_runs = len(all_runs)
        self.all_disturbed = not quiet
        values = [r["value"] for r in runs]
        self.median = statistics.median(values)
        self.lo = min(values)
        self.hi = max(values)
        self.errors = sum(r["errors"] for r in runs)
        self.unit = runs[0]["unit"]
        self.higher_is_better = runs[0]["higher_is_better"]
        self.workload = runs[0]["workload"]
        cpu = [r["server_cpu_pct"] for r in runs if r.get("server_cpu_pct") is not None]
        self.cpu = statistics.median(cpu) if cpu else None
        eff = [r["msgs_per_server_cpu_sec"] for r in runs
               if r.get("msgs_per_server_cpu_sec") is not None]
        self.efficiency = statistics.median(eff) if eff else None
        other = [r["other_cpu_pct"] for r in runs if r.get("other_cpu_pct") is not None]
        self.other_cpu = max(other) if other else None
        effs = [r["msgs_per_server_cpu_sec"] for r in all_runs
                if r.get("msgs_per_server_cpu_sec") is not None]
        # Messages per second of server CPU time hardly depends on disturbance: all runs.
        self.efficiency_all = statistics.median(effs) if effs else None
        # Broadcasts: server CPU milliseconds per broadcast (all runs, for the same reason).
        per_op = [r["server_cpu_pct"] / 100 * r["window_s"] * 1000 / r["broadcast_ms"]["count"]
                  for r in all_runs
                  if r.get("server_cpu_pct") is not None and r.get("window_s")
                  and (r.get("broadcast_ms") or {}).get("count")]
        self.cpu_ms_per_broadcast = statistics.median(per_op) if per_op else None
        client = [r["client_cpu_pct"] for r in runs if r.get("client_cpu_pct") is not None]
        self.client_cpu = statistics.median(client) if client else None
        lat = [r["latency_us"]["p99"] for r in runs if r.get("latency_us")]
        self.p99_us = statistics.median(lat) if lat else None
        fan = [r["broadcast_ms"]["p99"] for r in runs if r.get("broadcast_ms")]
        self.p99_ms = statistics.median(fan) if fan else None
        self.sessions = min(r["sessions"] for r in runs)
        self.connections = runs[0]["connections"]
        self.in_flight = runs[0]["in_flight"]
        self.size = runs[0]["message_size"]


def cells(runs):
    table = {}
    for family, _title, mapping in FAMILIES:
        for server, workload in mapping.items():
            mine = [r for r in runs if r["label"] == server and r["workload"] == workload]
            if mine:
                table[(family, server)] = Cell(mine)
    for family, _title in STOMP_FAMILIES:
        for key, label, prefix, _heading in STOMP_COLUMNS:
            workload = prefix + family
            mine = [r for r in runs if r["label"] == label and r["workload"] == workload]
            if mine:
                table[(family, key)] = Cell(mine)
    return table


def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "msg/s":
        return f"{v:,.0f}"
    if unit == "us":
        return f"{v:.0f}"
    if unit == "ms":
        return f"{v:.2f}"
    if unit == "kB":
        return f"{v:.2f}"
    return f"{v:.3g}"


def cell_text(c):
    if c is None:
        return "n/a"
    s = f"{fmt(c.median, c.unit)} ({fmt(c.lo, c.unit)}–{fmt(c.hi, c.unit)})"
    if len(c.runs) != c.total_runs:
        s += f" [{len(c.runs)}/{c.total_runs}]"
    if c.errors:
        s += f" **{c.errors} errors**"
    if c.all_disturbed:
        s += " †"
    return s


def ratio(a, b):
    if a is None or b is None or not b.median:
        return None
    return a.median / b.median


def unit_label(c):
    arrow = "↑" if c.higher_is_better else "↓"
    return {"msg/s": "msg/s", "us": "µs", "ms": "ms", "kB": "kB/session"}[c.unit] + " " + arrow


def describe(family, c):
    if family in ("ws-echo", "xhr-streaming", "xhr-polling", "stomp-publish"):
        return f"{c.connections} sessions × {c.in_flight} in flight, {c.size} B"
    if family == "ws-rtt":
        return f"1 connection, 1 in flight, {c.size} B"
    if family in ("broadcast", "room-broadcast", "endpoint-broadcast", "stomp-fanout"):
        return f"{c.connections} sessions, {c.size} B"
    if family in IDLE_FAMILIES:
        return f"{c.connections:,} sessions"
    return ""


def targets(table):
    def get(f, s):
        return table.get((f, s))

    out = []

    def add(name, ok, detail, disturbed=False):
        status = "not measured" if ok is None else ("**met**" if ok else "**not met**")
        if ok is not None and disturbed:
            status += " † (disturbed runs only: not conclusive)"
        out.append(f"| {name} | {detail} | {status} |")

    r = ratio(get("ws-echo", "sockjs-rs"), get("ws-echo", "sockjs-node"))
    add("ws echo ≥ 5× sockjs-node", None if r is None else r >= 5,
        "–" if r is None else f"{r:.2f}×")
    def eff(f, s):
        c = get(f, s)
        return None if c is None else c.efficiency_all

    e1, e2 = eff("ws-echo", "sockjs-rs"), eff("ws-echo", "sockjs-node")
    if e1 and e2:
        out.append(f"| (ws echo per server CPU-second: rs / node) | {e1 / e2:.2f}× | |")
    r = ratio(get("ws-echo", "sockjs-rs"), get("ws-echo", "bare"))
    add("ws echo ≥ 80% of bare", None if r is None else r >= 0.8,
        "–" if r is None else f"{100 * r:.0f}%")
    e1, e2 = eff("ws-echo", "sockjs-rs"), eff("ws-echo", "bare")
    if e1 and e2:
        out.append(f"| (ws echo per server CPU-second: rs / bare) | {100 * e1 / e2:.0f}% | |")
    a, b = get("ws-rtt", "sockjs-rs"), get("ws-rtt", "bare")
    d = None if a is None or b is None else a.median - b.median
    add("ws rtt p50 within 15 µs of bare", None if d is None else d <= 15,
        "–" if d is None else f"{a.median:.0f} µs vs {b.median:.0f} µs ({d:+.0f} µs)")
    for fam in ("xhr-streaming", "xhr-polling"):
        r = ratio(get(fam, "sockjs-rs"), get(fam, "sockjs-node"))
        add(f"{fam} ≥ 4× sockjs-node", None if r is None else r >= 4,
            "–" if r is None else f"{r:.2f}×")
        e1, e2 = eff(fam, "sockjs-rs"), eff(fam, "sockjs-node")
        if e1 and e2:
            out.append(f"| ({fam} per server CPU-second: rs / node) | {e1 / e2:.2f}× | |")
    a, b = get("broadcast", "sockjs-rs"), get("broadcast", "sockjs-node")
    r = ratio(a, b)
    add(f"broadcast to {a.connections if a else 1000} sessions p50 ≤ 0.5× sockjs-node",
        None if r is None else r <= 0.5,
        "–" if r is None else f"{a.median:.2f} ms vs {b.median:.2f} ms ({r:.2f}×)")
    c = get("broadcast", "bare")
    r = ratio(c, b)
    if r is not None:
        out.append(f"| (broadcast, bare websocket room / sockjs-node: the floor on this "
                   f"machine) | {c.median:.2f} ms ({r:.2f}×) | |")
    for fam, what in (("endpoint-broadcast", "SockJs::broadcast"),
                      ("room-broadcast", "hub room, send_to_room")):
        a = get(fam, "sockjs-rs")
        r = ratio(a, c)
        add(f"broadcast ({what}) p50 ≤ 1.1× the bare room", None if r is None else r <= 1.1,
            "–" if r is None else f"{a.median:.2f} ms vs {c.median:.2f} ms ({r:.2f}×)",
            disturbed=r is not None and (a.all_disturbed or c.all_disturbed))
        if a is not None and c is not None and a.cpu_ms_per_broadcast \
                and c.cpu_ms_per_broadcast:
            out.append(f"| ({what}, server CPU per broadcast, all runs: rs / bare) | "
                       f"{a.cpu_ms_per_broadcast:.2f} ms vs {c.cpu_ms_per_broadcast:.2f} ms "
                       f"({a.cpu_ms_per_broadcast / c.cpu_ms_per_broadcast:.2f}×) | |")
    a = get("broadcast", "sockjs-rs")
    r = ratio(a, c)
    if r is not None:
        out.append(f"| (broadcast, the application's room of `try_send`, encoding per member, "
                   f"/ the bare room) | {r:.2f}× | |")
    for fam, what in (("idle", "ws"), ("idle-xhr-streaming", "xhr-streaming")):
        # sockjs-rs's own figure against the absolute target; sockjs-node's for reference.
        a, b = get(fam, "sockjs-rs"), get(fam, "sockjs-node")
        full = a is not None and a.sessions >= 10000
        detail = "–"
        if a is not None:
            detail = f"{a.median:.2f} kB at {a.sessions:,} sessions"
            if not full:
                detail += " (fewer than 10k: not conclusive)"
            r = ratio(a, b)
            if r is not None:
                detail += f"; sockjs-node {b.median:.2f} kB ({r:.2f}×)"
            c = get(fam, "bare")
            if c is not None:
                detail += f"; bare {c.median:.2f} kB"
        add(f"idle {what} session ≤ 8 kB RSS at 10k sessions",
            None if a is None or not full else a.median <= 8, detail)
    return out


def stomp_targets(table):
    """Issue 14 item 8: sockjs-rs's STOMP (over SockJS) against RabbitMQ's web-STOMP, and
    against sockjs-rs's own plain SockJS echo."""
    out = []

    def add(name, ok, detail):
        status = "not measured" if ok is None else ("**met**" if ok else "**not met**")
        out.append(f"| {name} | {detail} | {status} |")

    rs, ws, rmq = (table.get(("stomp-publish", k)) for k in ("sockjs-rs", "sockjs-rs/ws", "rabbitmq"))
    r = ratio(rs, rmq)
    detail = "–" if r is None else f"{fmt(rs.median, rs.unit)} vs {fmt(rmq.median, rmq.unit)} msg/s ({r:.2f}×)"
    r2 = ratio(ws, rmq)
    if r2 is not None:
        detail += f"; raw websocket {r2:.2f}×"
    add("STOMP publish ≥ 3× RabbitMQ", None if r is None else r >= 3, detail)
    if rs is not None and rmq is not None and rs.efficiency_all and rmq.efficiency_all:
        out.append(f"| (STOMP publish per server CPU-second: rs / RabbitMQ) | "
                   f"{rs.efficiency_all / rmq.efficiency_all:.2f}× | |")
    rs, ws, rmq = (table.get(("stomp-idle", k)) for k in ("sockjs-rs", "sockjs-rs/ws", "rabbitmq"))
    r = ratio(rs, rmq)
    detail = "–" if r is None else \
        f"{rs.median:.2f} kB vs {rmq.median:.2f} kB at {rs.sessions:,} sessions ({r:.2f}×)"
    r2 = ratio(ws, rmq)
    if r2 is not None:
        detail += f"; raw websocket {ws.median:.2f} kB ({r2:.2f}×)"
    if r is not None and rs.sessions != rmq.sessions:
        detail += f" (RabbitMQ at {rmq.sessions:,} sessions: not comparable)"
    add("idle STOMP session ≤ 0.5× RabbitMQ's memory", None if r is None else r <= 0.5, detail)
    rs, rmq = table.get(("stomp-fanout", "sockjs-rs")), table.get(("stomp-fanout", "rabbitmq"))
    r = ratio(rs, rmq)
    if r is not None:
        p99 = ""
        if rs.p99_ms is not None and rmq.p99_ms is not None:
            p99 = f"; p99 {rs.p99_ms:.2f} ms vs {rmq.p99_ms:.2f} ms"
        out.append(f"| (STOMP fan-out to {rs.connections} subscribers, p50: rs / RabbitMQ) | "
                   f"{rs.median:.2f} ms vs {rmq.median:.2f} ms ({r:.2f}×){p99} | |")
    st, echo = table.get(("stomp-publish", "sockjs-rs")), table.get(("ws-echo", "sockjs-rs"))
    r = ratio(st, echo)
    detail = "–"
    if r is not None:
        detail = (f"{fmt(st.median, st.unit)} vs {fmt(echo.median, echo.unit)} msg/s: "
                  f"STOMP costs {100 * (1 - r):.0f}%")
        if (st.connections, st.in_flight, st.size) != (echo.connections, echo.in_flight, echo.size):
            detail += " (different settings: not comparable)"
    add("STOMP costs ≤ 30% of SockJS echo throughput (sockjs-rs)",
        None if r is None else r >= 0.7, detail)
    if st is not None and echo is not None and st.efficiency_all and echo.efficiency_all:
        out.append(f"| (per server CPU-second: STOMP publish / SockJS echo) | "
                   f"{100 * st.efficiency_all / echo.efficiency_all:.0f}% | |")
    return out


def stomp_markdown(table):
    if not any((f, k) in table for f, _t in STOMP_FAMILIES for k, *_ in STOMP_COLUMNS):
        return []
    lines = [
        "",
        "## STOMP (issue 14)",
        "",
        "The same client (`sockjs-load`'s STOMP 1.2 client, `ack:auto`, no client heart-beats) "
        "against sockjs-rs's `/stomp` broker (SockJS websocket sessions, `stomp-*`, and the "
        "endpoint's raw websocket, `raw-stomp-*`) and RabbitMQ's web-STOMP plugin (plain "
        "websocket, `v12.stomp`). Cells as above; the fan-out row adds the median p99.",
        "",
        "- stomp-publish: every session subscribes to its own topic and sends to it, with the "
        "ws-echo workload's sessions, messages in flight and payload size; the value is "
        "`MESSAGE` frames received per second (each one a `SEND` through the broker and back).",
        "- stomp-fanout: all sessions subscribe to one topic, one of them sends, one message at "
        "a time; the value is the time from the `SEND` to the `MESSAGE` at the last subscriber.",
        "- stomp-idle: sessions connected and subscribed (one topic each, server heart-beats "
        "every 10 s asked for), then left idle; the value is the growth of the server process's "
        "RSS (`VmRSS` in `/proc/PID/status`, read before the sessions open and again after the "
        "warm-up time with all of them open) divided by the sessions. For RabbitMQ the process "
        "is the Erlang VM, `beam.smp` (its pid from `RABBITMQ_PID_FILE`), which holds the whole "
        "broker: the web-STOMP connection processes and the queue each subscription creates. "
        "Afterwards every session must still get one message through.",
        "- The STOMP-cost target compares sockjs-rs's stomp-publish (over SockJS websocket "
        "sessions) with its ws-echo from the same run, at the same sessions, messages in flight "
        "and payload size: both count messages delivered back to the client per second, each "
        "caused by one client message; STOMP adds the frames (a 64 B payload travels as a "
        "152 B `SEND` and a 192 B `MESSAGE`), the broker's routing and the hub channel. "
        "Met when stomp-publish reaches at least 70% of ws-echo.",
        "",
        "| workload | metric | " + " | ".join(h for *_x, h in STOMP_COLUMNS) + " | rs / RabbitMQ |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for family, _title in STOMP_FAMILIES:
        cols = [table.get((family, k)) for k, *_x in STOMP_COLUMNS]
        any_cell = next((c for c in cols if c is not None), None)
        if any_cell is None:
            continue
        texts = []
        for c in cols:
            t = cell_text(c)
            if c is not None and c.p99_ms is not None:
                t += f"; p99 {c.p99_ms:.2f}"
            texts.append(t)
        r = ratio(cols[0], cols[2])
        lines.append(f"| {family} ({describe(family, any_cell)}) | {unit_label(any_cell)} | "
                     + " | ".join(texts) + f" | {'–' if r is None else f'{r:.2f}×'} |")
    lines += ["", "CPU use (server / load generator, percent of one core; msg per server "
              "CPU-second):", "", "| workload | " + " | ".join(h for *_x, h in STOMP_COLUMNS)
              + " |", "|---|---:|---:|---:|"]
    lines += cpu_rows(table, [f for f, _t in STOMP_FAMILIES], [k for k, *_x in STOMP_COLUMNS])
    lines += ["", "| target | measured | |", "|---|---|---|"]
    lines += stomp_targets(table)
    return lines


def cpu_rows(table, families, servers):
    """Table rows of CPU use: server / load generator percent, and messages per server
    CPU-second for the throughput workloads."""
    lines = []
    for family in families:
        row = []
        for server in servers:
            c = table.get((family, server))
            if c is None or c.cpu is None:
                row.append("–")
                continue
            text = f"{c.cpu:.0f}% / {c.client_cpu:.0f}%" if c.client_cpu is not None \
                else f"{c.cpu:.0f}%"
            if c.efficiency_all is not None and c.unit == "msg/s":
                text += f" · {c.efficiency_all:,.0f} msg/cpu-s"
            row.append(text)
        if any(x != "–" for x in row):
            lines.append(f"| {family} | " + " | ".join(row) + " |")
    return lines


def markdown(runs, meta, table):
    lines = ["# sockjs-rs benchmark report", ""]
    if meta:
        lines += [
            f"Commit `{meta.get('commit', '?')}`"
            + (" (with uncommitted changes)" if meta.get("dirty") else "")
            + f"; {meta.get('cpus', '?')} × {meta.get('cpu', '?')}, Linux {meta.get('kernel', '?')}, "
            f"{meta.get('rustc', '?')}, node {meta.get('node', '?')}. "
            "A fresh server process for every run.",
            "",
        ]
        for i, p in enumerate(meta.get("passes", []), 1):
            s = p.get("settings", {})
            lines.append(
                f"- pass {i}, {p.get('started', '?')}: {s.get('runs', '?')} runs of "
                f"({p.get('workloads', '?')}) × ({p.get('servers', '?')}); "
                f"{s.get('warmup_s', '?')} s warm-up + {s.get('duration_s', '?')} s measured; "
                f"server on CPU {s.get('server_cpu', 0)}, load generator on CPU "
                f"{s.get('client_cpu', 1)}, nice {s.get('nice', 0)}; load average "
                f"{p.get('loadavg_start', '?')} → {p.get('loadavg_end', '?')}.")
        lines.append("")
    lines += [
        "Cells: median of the runs (min–max). ↑ higher is better, ↓ lower is better. "
        "The bare server speaks no SockJS: its ws rows are plain websocket echo "
        "(`raw-ws-echo`, `raw-ws-rtt`, `raw-broadcast`, `raw-idle`), its polling row is a plain HTTP POST "
        "echo (`http-echo`), one request in flight per connection, and its idle xhr_streaming row "
        "holds plain HTTP streaming responses, each with a queue to push lines into it "
        "(`raw-idle-streaming`).",
        "",
        "| workload | metric | sockjs-rs | sockjs-node | bare | rs / node | rs / bare |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for family, _title, _m in FAMILIES:
        rs = table.get((family, "sockjs-rs"))
        node = table.get((family, "sockjs-node"))
        bare = table.get((family, "bare"))
        any_cell = rs or node or bare
        if any_cell is None:
            continue
        r1, r2 = ratio(rs, node), ratio(rs, bare)
        lines.append(
            f"| {family} ({describe(family, any_cell)}) | {unit_label(any_cell)} | "
            f"{cell_text(rs)} | {cell_text(node)} | {cell_text(bare)} | "
            f"{'–' if r1 is None else f'{r1:.2f}×'} | {'–' if r2 is None else f'{r2:.2f}×'} |")
    lines += [
        "",
        f"A run is *disturbed* when other processes on the machine used more than "
        f"{DISTURBED:.0f}% of a core during its measured window. A cell uses only its "
        "undisturbed runs when it has any ([used/total] says how many); † marks a cell whose "
        "runs were all disturbed: treat it with care. Idle (memory) runs have no CPU window.",
    ]
    lines += [
        "",
        "## CPU use",
        "",
        "Medians over the measured window of the runs used above, percent of one core: "
        "server / load generator; then messages per second of server CPU time (throughput "
        "workloads, median of all runs: it depends little on disturbance). A server well "
        "below 100% was not the bottleneck: the one-core load generator, the round-trip "
        "latency or other processes were.",
        "",
        "| workload | sockjs-rs | sockjs-node | bare |",
        "|---|---:|---:|---:|",
    ]
    lines += cpu_rows(table, [f for f, _t, _m in FAMILIES], SERVERS)
    lines += ["", "## Targets (issues 6 and 16)", "", "| target | measured | |", "|---|---|---|"]
    lines += targets(table)
    lines += stomp_markdown(table)
    total_errors = sum(r["errors"] for r in runs)
    lines += ["", f"Errors over all {len(runs)} runs: {total_errors}."]
    bad = [r for r in runs if r["errors"]]
    for r in bad[:10]:
        lines.append(f"- {r['workload']} on {r['label']}: {r['errors']} errors, "
                     f"e.g. {r['error_samples'][:2]}")
    lines += ["", "![chart](chart.svg)", ""]
    return "\n".join(lines)


def svg(table):
    panel_w, panel_h = 320, 250
    cols = 3
    panels = [(f, t, SERVERS) for f, t, _m in FAMILIES]
    panels += [(f, t, [k for k, *_x in STOMP_COLUMNS]) for f, t in STOMP_FAMILIES]
    fams = [p for p in panels if any((p[0], s) in table for s in p[2])]
    rows = (len(fams) + cols - 1) // cols
    width, height = cols * panel_w + 20, rows * panel_h + 70
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        '<text x="10" y="24" font-size="17" font-weight="bold">'
        'sockjs-rs vs sockjs-node 0.3.24 vs bare tokio-tungstenite/hyper (STOMP: vs RabbitMQ)</text>',
    ]
    lx = 10
    legend = SERVERS + [k for k, *_x in STOMP_COLUMNS if k not in SERVERS]
    for s in legend:
        out.append(f'<rect x="{lx}" y="36" width="12" height="12" fill="{COLORS[s]}"/>')
        out.append(f'<text x="{lx + 16}" y="46" font-size="12">{s}</text>')
        lx += 100
    out.append(f'<text x="{lx}" y="46" font-size="12" fill="#555">'
               'median, whiskers min–max</text>')
    for i, (family, title, servers) in enumerate(fams):
        px = 10 + (i % cols) * panel_w
        py = 60 + (i // cols) * panel_h
        present = [(s, table[(family, s)]) for s in servers if (family, s) in table]
        c0 = present[0][1]
        unit = unit_label(c0)
        top = max(c.hi for _, c in present) * 1.18 or 1.0
        plot_x, plot_y, plot_w, plot_h = px + 50, py + 40, panel_w - 70, panel_h - 85
        out.append(f'<text x="{px + 5}" y="{py + 16}" font-size="13" font-weight="bold">'
                   f'{html.escape(title)}</text>')
        out.append(f'<text x="{px + 5}" y="{py + 31}" font-size="11" fill="#555">'
                   f'{html.escape(unit)} — {html.escape(describe(family, c0))}</text>')
        out.append(f'<line x1="{plot_x}" y1="{plot_y + plot_h}" x2="{plot_x + plot_w}" '
                   f'y2="{plot_y + plot_h}" stroke="#333"/>')
        out.append(f'<line x1="{plot_x}" y1="{plot_y}" x2="{plot_x}" y2="{plot_y + plot_h}" '
                   'stroke="#333"/>')
        for k in range(5):
            v = top * k / 4
            y = plot_y + plot_h - plot_h * k / 4
            out.append(f'<line x1="{plot_x - 3}" y1="{y:.1f}" x2="{plot_x + plot_w}" '
                       f'y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{plot_x - 5}" y="{y + 4:.1f}" font-size="9" '
                       f'text-anchor="end" fill="#555">{short(v)}</text>')
        slot = plot_w / len(present)
        bar_w = slot * 0.55
        for j, (s, c) in enumerate(present):
            bx = plot_x + slot * j + (slot - bar_w) / 2
            h = plot_h * c.median / top
            y = plot_y + plot_h - h
            out.append(f'<rect x="{bx:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                       f'fill="{COLORS[s]}"><title>{s} {c.workload}: '
                       f'{fmt(c.median, c.unit)}</title></rect>')
            cx = bx + bar_w / 2
            ylo = plot_y + plot_h - plot_h * c.lo / top
            yhi = plot_y + plot_h - plot_h * c.hi / top
            out.append(f'<line x1="{cx:.1f}" y1="{ylo:.1f}" x2="{cx:.1f}" y2="{yhi:.1f}" '
                       'stroke="#222"/>')
            for yy in (ylo, yhi):
                out.append(f'<line x1="{cx - 5:.1f}" y1="{yy:.1f}" x2="{cx + 5:.1f}" '
                           f'y2="{yy:.1f}" stroke="#222"/>')
            out.append(f'<text x="{cx:.1f}" y="{yhi - 4:.1f}" font-size="10" '
                       f'text-anchor="middle">{fmt(c.median, c.unit)}</text>')
            name = s if s != "bare" or c.workload == family else f"bare ({c.workload})"
            out.append(f'<text x="{cx:.1f}" y="{plot_y + plot_h + 14}" font-size="10" '
                       f'text-anchor="middle">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def short(v):
    if v >= 1e6:
        return f"{v / 1e6:.1f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    if v >= 10:
        return f"{v:.0f}"
    return f"{v:.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", required=True)
    p.add_argument("--meta")
    p.add_argument("--markdown", required=True)
    p.add_argument("--svg", required=True)
    a = p.parse_args()
    runs = load(a.results)
    if not runs:
        sys.exit(f"no results in {a.results}")
    meta = None
    if a.meta:
        with open(a.meta) as f:
            meta = json.load(f)
    table = cells(runs)
    with open(a.markdown, "w") as f:
        f.write(markdown(runs, meta, table))
    with open(a.svg, "w") as f:
        f.write(svg(table))


if __name__ == "__main__":
    main()
