"""Benchmark: Zeek conn.log rows per second, parsed and scored for beaconing (issue 5 goal:
>= 500,000 rows/s on 2 cores).

Input: a synthetic conn.log in Zeek's TSV format (``yotsuba.sec.synth_zeek.generate``; default
scale 150, about 2.5 M rows and 330 MB), or ``--log PATH`` for a real one.

Ours, best of ``--repeats``:

- ``parse_all``: :func:`yotsuba.sec.zeek.read_zeek` of every column into a typed Arrow table;
- ``parse_score``: what ``yotsuba sec beacons`` does: read the columns it needs, then
  :func:`yotsuba.sec.beacons.score_beacons` (RITA-style scores of every pair and the long
  connections);
- ``parse_all_score``: every column, then the scores.

Baselines in the same process, each parsing the same file once (parse only, no scoring, so the
ratios favour them):

- ``line_by_line``: a plain Python parser: skip ``#`` lines, ``split('\\t')``, convert each field
  by its ``#types`` type (``-`` to ``None``), one tuple per row;
- ``zat``: ``zat.log_to_dataframe.LogToDataFrame().create_dataframe`` (pandas), the usual way to
  load Zeek logs in Python (the ``bench`` extra).

Run:  .venv/bin/python benchmarks/sec_zeek.py [--scale N | --log PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from yotsuba.sec.beacons import score_beacons
from yotsuba.sec.synth_zeek import generate
from yotsuba.sec.zeek import read_zeek

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best

CLI_COLUMNS = ["ts", "id.orig_h", "id.resp_h", "id.resp_p", "proto", "duration", "orig_bytes",
               "orig_ip_bytes"]


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(pyarrow uses {pa.cpu_count()}), Python {platform.python_version()}, "
        f"numpy {np.__version__}, pyarrow {pa.__version__}, load average {load:.1f} at start"
    )


def line_by_line(path: Path) -> list[tuple[Any, ...]]:
    """The straightforward Python parser (typed by #types, '-' as None)."""
    conv: list[Callable[[str], Any]] = []
    rows: list[tuple[Any, ...]] = []

    def typed(t: str) -> Callable[[str], Any]:
        if t in ("time", "interval", "double"):
            return float
        if t in ("count", "int", "port"):
            return int
        if t == "bool":
            return lambda v: v == "T"
        if t.startswith(("set[", "vector[")):
            return lambda v: [] if v == "(empty)" else v.split(",")
        return str

    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("#"):
                if line.startswith("#types"):
                    conv = [typed(t) for t in line.rstrip("\n").split("\t")[1:]]
                continue
            parts = line.rstrip("\n").split("\t")
            rows.append(tuple(None if v == "-" else f(v) for f, v in zip(conv, parts,
                                                                         strict=False)))
    return rows


def zat_parse(path: Path) -> Any:
    from zat.log_to_dataframe import LogToDataFrame

    return LogToDataFrame().create_dataframe(str(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--scale", type=int, default=150, help="synthetic size (150: ~2.5 M rows)")
    ap.add_argument("--log", type=Path, help="benchmark this conn.log instead")
    ap.add_argument("--repeats", type=int, default=2, help="best of this many for ours")
    ap.add_argument("--no-baselines", action="store_true", help="skip the Python and zat runs")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = ap.parse_args()
    mach = machine()
    tmp = None
    if args.log is None:
        tmp = tempfile.TemporaryDirectory(prefix="yotsuba-zeek-")
        t0 = time.perf_counter()
        truth = generate(tmp.name, seed=1, scale=args.scale)
        print(f"generated {truth['conn_rows']:,} rows in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        path = Path(truth["conn_log"])
    else:
        path = args.log
    size_mb = path.stat().st_size / 1e6
    t_all, log_all = best(lambda: read_zeek(path, "conn"), args.repeats)
    rows = int(log_all.table.num_rows)
    t_cli, _ = best(lambda: score_beacons(read_zeek(path, "conn", columns=CLI_COLUMNS).table),
                     args.repeats)
    t_all_score, res = best(lambda: score_beacons(read_zeek(path, "conn").table), args.repeats)
    table_all = log_all.table
    t_score_only, _ = best(lambda: score_beacons(table_all), args.repeats)
    out: dict[str, Any] = {
        "machine": mach, "log": str(path), "rows": rows, "file_mb": size_mb,
        "pairs": int(res["pairs"]), "pairs_scored": int(res["beacons"].num_rows),
        "ours": {
            "parse_all_rows_per_s": rows / t_all, "parse_score_rows_per_s": rows / t_cli,
            "parse_all_score_rows_per_s": rows / t_all_score,
            "score_only_rows_per_s": rows / t_score_only,
            "parse_all_s": t_all, "parse_score_s": t_cli, "parse_all_score_s": t_all_score,
            "score_only_s": t_score_only,
        },
        "goal_rows_per_s": 500_000,
        "baselines": {},
    }
    if not args.no_baselines:
        t_py, py_rows = best(lambda: line_by_line(path), 1)
        out["baselines"]["line_by_line"] = {"rows_per_s": len(py_rows) / t_py, "s": t_py,
                                            "rows": len(py_rows)}
        del py_rows
        try:
            t_zat, df = best(lambda: zat_parse(path), 1)
            out["baselines"]["zat"] = {"rows_per_s": len(df) / t_zat, "s": t_zat,
                                       "rows": len(df)}
            del df
        except ImportError:
            out["baselines"]["zat"] = None
        for name, b in out["baselines"].items():
            if b is not None:
                b["ratio_ours_parse_score_to_baseline_parse"] = t_cli and b["s"] / t_cli
                b["ratio_ours_parse_all_to_baseline_parse"] = b["s"] / t_all
                out["baselines"][name] = b
    if tmp is not None:
        tmp.cleanup()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    o = out["ours"]
    print(f"machine: {mach}", file=sys.stderr)
    print(f"conn.log: {rows:,} rows, {size_mb:.0f} MB, {out['pairs']:,} pairs, "
          f"{out['pairs_scored']:,} scored")
    print(f"ours  parse (all 21 columns)        {o['parse_all_rows_per_s']:>12,.0f} rows/s")
    print(f"ours  parse (CLI columns) + score   {o['parse_score_rows_per_s']:>12,.0f} rows/s"
          f"   (goal 500,000)")
    print(f"ours  parse (all columns) + score   {o['parse_all_score_rows_per_s']:>12,.0f} rows/s")
    print(f"ours  score only                    {o['score_only_rows_per_s']:>12,.0f} rows/s")
    for name, b in out["baselines"].items():
        if b is None:
            print(f"{name}: not installed (pip install 'yotsuba[bench]')")
            continue
        print(f"{name:<12} parse only             {b['rows_per_s']:>12,.0f} rows/s   "
              f"ours parse+score is {b['ratio_ours_parse_score_to_baseline_parse']:.1f}x, "
              f"ours parse-all is {b['ratio_ours_parse_all_to_baseline_parse']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
