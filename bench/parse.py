"""Parser benchmark: `parsers.parse` against the bare standard-library parse of the same bytes.

What is measured, per set of mails:

* **ours**: `parsers.parse(raw)` on every mail of the set (everything a ParsedMail
  holds: decoded headers, bodies, visible text, attachments, classification);
* **ceiling**: `email.message_from_bytes(raw, policy=email.policy.default)`, the
  bare policy-based parse of the same bytes, nothing read out of it.

Each (set, parser) pair runs in a fresh subprocess, so its peak RSS is its own:
the set's bytes are loaded, RSS is sampled, then the parse loop runs `--rounds`
times and the fastest round counts (the machine is shared; the fastest round is
the one least disturbed). Printed: mails/s, MB/s, the ratio ours ÷ ceiling
(target: at least 0.75), and peak RSS above the loaded bytes. For the single huge
mails it also prints the Python heap peak during one parse (tracemalloc) divided
by the mail's size (target for the 25 MB mail: under 5).

Sets:
* corpus: every `.eml` of ../shared/corpus (or $MAILBRIDGE_CORPUS) that is a mail;
* typical: `--mails` generated ~5 KB human mails (the ingest bench's generator);
* attachments: `--attachment-mails` generated mails with one to three base64
  attachments of 0.5 to 5 MB each;
* pathological, one mail each: HTML with 5,000 links nested 500 deep, a 1 MB
  header, a 1,000-part multipart, a 25 MB base64 attachment.

Run: `.venv/bin/python bench/parse.py [--mails N] [--rounds R] [--only SET]`.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailgen import make_mails

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.75
TARGET_HEAP_FACTOR = 5.0


# ---------------------------------------------------------------- the sets


def corpus_set() -> list[bytes]:
    configured = os.environ.get("MAILBRIDGE_CORPUS")
    root = Path(configured) if configured else ROOT.parent / "shared" / "corpus"
    # An Outlook .msg kept in mail-parser's tests: not a mail, both parsers refuse it.
    skip = {"mail_outlook_1.eml"}
    return [p.read_bytes() for p in sorted(root.glob("*/*.eml")) if p.name not in skip]


def typical_set(count: int) -> list[bytes]:
    return [m.raw for m in make_mails(count, seed=1)]


def _mail_with(parts: list[tuple[str, str, bytes]], subject: str, extra_headers: str = "") -> bytes:
    """A multipart/mixed mail with a short text part and these (filename, type, data) parts."""
    boundary = "=_bench_boundary"
    out = [
        "From: Alice Example <alice@example.org>",
        "To: helpdesk@example.org",
        f"Subject: {subject}",
        "Message-ID: <bench.parse@example.org>",
        "Date: Wed, 25 Nov 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
    ]
    if extra_headers:
        out.append(extra_headers)
    out += [
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Please see the attached files.",
    ]
    chunks = ["\r\n".join(out)]
    for filename, content_type, data in parts:
        encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
        chunks.append(
            f'\r\n--{boundary}\r\nContent-Type: {content_type}; name="{filename}"\r\n'
            f'Content-Disposition: attachment; filename="{filename}"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
        )
    chunks.append(f"\r\n--{boundary}--\r\n")
    return "".join(chunks).encode()


def attachments_set(count: int) -> list[bytes]:
    rng = random.Random(2)
    mails = []
    for i in range(count):
        parts = [
            (f"file{i}-{j}.pdf", "application/pdf", rng.randbytes(rng.randint(512, 5120) * 1024))
            for j in range(rng.randint(1, 3))
        ]
        mails.append(_mail_with(parts, f"attachments {i}"))
    return mails


def html_links_mail() -> bytes:
    links = "".join(f'<a href="https://example.org/{i}">link {i}</a> ' for i in range(5000))
    nested = "<div>" * 500 + "deep" + "</div>" * 500
    html = f"<html><body><p>{links}</p>{nested}</body></html>"
    head = (
        "From: news@example.org\r\nTo: helpdesk@example.org\r\nSubject: links\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    )
    return (head + html).encode()


def huge_header_mail() -> bytes:
    folded = "\r\n ".join("x" * 70 for _ in range(1024 * 1024 // 72))
    return (
        "From: alice@example.org\r\nTo: helpdesk@example.org\r\nSubject: big header\r\n"
        f"X-Huge: {folded}\r\n\r\nbody\r\n"
    ).encode()


def many_parts_mail() -> bytes:
    return _mail_with(
        [(f"p{i}.txt", "text/plain", b"part %d\n" % i) for i in range(1000)], "1000 parts"
    )


def big_attachment_mail() -> bytes:
    return _mail_with(
        [("big.bin", "application/octet-stream", random.Random(3).randbytes(18_500_000))],
        "25 MB",
    )


def build_set(name: str, args: argparse.Namespace) -> list[bytes]:
    builders: dict[str, Callable[[], list[bytes]]] = {
        "corpus": corpus_set,
        "typical": lambda: typical_set(args.mails),
        "attachments": lambda: attachments_set(args.attachment_mails),
        "html-5000-links": lambda: [html_links_mail()],
        "header-1MB": lambda: [huge_header_mail()],
        "1000-parts": lambda: [many_parts_mail()],
        "attachment-25MB": lambda: [big_attachment_mail()],
    }
    return builders[name]()


SETS = [
    "corpus",
    "typical",
    "attachments",
    "html-5000-links",
    "header-1MB",
    "1000-parts",
    "attachment-25MB",
]


# ---------------------------------------------------------------- one measurement


def _parser(which: str) -> Callable[[bytes], object]:
    if which == "ceiling":
        return lambda raw: email.message_from_bytes(raw, policy=email.policy.default)
    import parsers

    def ours(raw: bytes) -> object:
        try:
            return parsers.parse(raw)
        except parsers.Unparseable:
            return None

    return ours


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(set_name: str, which: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run in a subprocess: time the parser over the set, then its memory."""
    mails = build_set(set_name, args)
    parse = _parser(which)
    parse(mails[0])  # imports and caches warm, outside the timing
    loaded_kib = _rss_kib()
    best = float("inf")
    for _ in range(args.rounds):
        start = time.perf_counter()
        for raw in mails:
            parse(raw)
        best = min(best, time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    heap_factor = None
    if len(mails) == 1:
        tracemalloc.start()
        parse(mails[0])
        heap_factor = tracemalloc.get_traced_memory()[1] / len(mails[0])
        tracemalloc.stop()
    size = sum(len(m) for m in mails)
    return {
        "set": set_name,
        "parser": which,
        "mails": len(mails),
        "bytes": size,
        "seconds": best,
        "mails_per_s": len(mails) / best,
        "mb_per_s": size / best / 1e6,
        "peak_rss_above_loaded_mb": max(0, peak_kib - loaded_kib) / 1024,
        "peak_rss_mb": peak_kib / 1024,
        "heap_factor": heap_factor,
    }


def run_child(set_name: str, which: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        set_name,
        which,
        "--mails",
        str(args.mails),
        "--attachment-mails",
        str(args.attachment_mails),
        "--rounds",
        str(args.rounds),
    ]
    done = subprocess.run(command, capture_output=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{set_name}/{which} failed:\n{done.stderr.decode()}")
    result: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return result


# ---------------------------------------------------------------- report


def print_report(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    print(
        f"{'set':<17}{'mails':>7}{'MB':>8}  {'ours/s':>9}{'ceiling/s':>10}{'ratio':>7}"
        f"{'ours MB/s':>10}{'RSS MB':>8}{'heap/size':>10}{'ceiling':>8}"
    )
    print("-" * 94)
    for ours, ceiling in rows:
        ratio = ours["mails_per_s"] / ceiling["mails_per_s"]
        heap = f"{ours['heap_factor']:.1f}" if ours["heap_factor"] is not None else "-"
        bare = f"{ceiling['heap_factor']:.1f}" if ceiling["heap_factor"] is not None else "-"
        print(
            f"{ours['set']:<17}{ours['mails']:>7}{ours['bytes'] / 1e6:>8.1f}  "
            f"{ours['mails_per_s']:>9.0f}{ceiling['mails_per_s']:>10.0f}{ratio:>7.2f}"
            f"{ours['mb_per_s']:>10.1f}{ours['peak_rss_above_loaded_mb']:>8.1f}{heap:>10}"
            f"{bare:>8}"
        )
    print(
        "(ours/s, ceiling/s: mails per second, fastest of the rounds; ratio: ours ÷ ceiling;\n"
        " RSS MB: our peak RSS above the loaded bytes; heap/size: Python heap peak during\n"
        " one parse ÷ the mail's size, for single-mail sets, ours and the ceiling's)"
    )
    print()
    print("targets from the issue:")
    for ours, ceiling in rows:
        if ours["set"] in ("corpus", "typical"):
            ratio = ours["mails_per_s"] / ceiling["mails_per_s"]
            verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
            print(f"  {ours['set']:<12} speed ÷ ceiling  {ratio:.2f}  >= {TARGET_RATIO}: {verdict}")
        if ours["set"] == "attachment-25MB" and ours["heap_factor"] is not None:
            factor = ours["heap_factor"]
            verdict = "met" if factor < TARGET_HEAP_FACTOR else "MISSED"
            print(
                f"  25 MB mail   heap ÷ size      {factor:.1f}  < {TARGET_HEAP_FACTOR}: {verdict}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000, help="typical mails (default 2000)")
    parser.add_argument("--attachment-mails", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; fastest counts")
    parser.add_argument("--only", choices=SETS, action="append", help="run only this set")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    parser.add_argument("--child", nargs=2, metavar=("SET", "PARSER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args)))
        return 0
    rows = []
    for set_name in args.only or SETS:
        ours = run_child(set_name, "ours", args)
        ceiling = run_child(set_name, "ceiling", args)
        rows.append((ours, ceiling))
        print(
            f"  {set_name}: ours {ours['mails_per_s']:.0f}/s, "
            f"ceiling {ceiling['mails_per_s']:.0f}/s",
            flush=True,
        )
    print()
    print_report(rows)
    if args.json:
        Path(args.json).write_text(json.dumps([r for pair in rows for r in pair], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
