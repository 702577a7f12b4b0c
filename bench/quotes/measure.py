"""Measure quote/signature strippers on labelled replies (bench only, not shipped).

    /tmp/qvenv/bin/python bench/quotes/measure.py            # the tables
    /tmp/qvenv/bin/python bench/quotes/measure.py --fails    # which sample each tool gets wrong
    /tmp/qvenv/bin/python bench/quotes/measure.py --show outlook_09   # input, label, every output

Samples: our own in bench/quotes/samples/*.toml and the real talon fixtures read in
place from ../shared/corpora/talon (labels in bench/quotes/talon_labels.toml).
Every tool gets the same text: the text/plain part, or the HTML through the
project's own html_to_text (src/mailcomplaints/mail/html.py, loaded read-only).
Tools that also take HTML are measured a second time on the raw HTML (separate table).

exact: the output has the labelled new text's non-blank lines, in order, and nothing
       else (whitespace inside lines collapsed, blank lines ignored).
fuzzy: the output keeps every line of the new text and no line of the quote; sign-off,
       name and device-footer lines ("ignore" in the labels) count either way.
lost / leak: samples where a line of new text was dropped / a quoted line was kept.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import importlib.util
import statistics
import sys
import time
import tomllib
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # never leave caches next to src/ modules loaded below
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TALON = (REPO / ".." / "shared" / "corpora" / "talon").resolve()
FAMILIES = ("outlook", "gmail", "apple", "other")
LAYOUTS = ("top", "bottom", "forward", "interleaved", "none")

warnings.filterwarnings("ignore")


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


html_to_text = _load_module("mc_html", REPO / "src/mailcomplaints/mail/html.py").html_to_text
project_quotes = _load_module("mc_quotes", REPO / "src/mailcomplaints/mail/quotes.py")
baseline = _load_module("bench_baseline", HERE / "baseline.py")


# ---------------------------------------------------------------- samples

@dataclass
class Sample:
    name: str
    family: str
    layout: str
    client: str
    text: str
    expected: str
    ignore: list[str] = field(default_factory=list)
    forbidden_extra: list[str] = field(default_factory=list)  # quoted lines known from marks
    html: str | None = None


def _clean(s: str) -> str:
    return s.strip("\n")


def own_samples() -> list[Sample]:
    out = []
    for path in sorted((HERE / "samples").glob("*.toml")):
        d = tomllib.loads(path.read_text(encoding="utf-8"))
        html = _clean(d["input_html"]) if "input_html" in d else None
        text = html_to_text(html) if html else _clean(d["input"])
        out.append(Sample(path.stem, d["family"], d["layout"], d["client"], text,
                          _clean(d["expected"]), d.get("ignore", []), html=html))
    return out


def _eml_text(raw: bytes) -> tuple[str, str | None]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    html_s = html.get_content() if html is not None else None
    if plain is not None:
        return plain.get_content(), html_s
    return html_to_text(html_s), html_s


def talon_samples() -> list[Sample]:
    labels = tomllib.loads((HERE / "talon_labels.toml").read_text(encoding="utf-8"))["fixture"]
    out = []
    for d in labels:
        path = TALON / d["path"]
        name = "talon/" + d["path"]
        fmt, html, ignore, forbidden = d["format"], None, list(d.get("ignore", [])), []
        expected = d.get("expected", "")
        if fmt == "eml":
            text, html = _eml_text(path.read_bytes())
            # only the HTML-only messages get an HTML run: with a text part we use text
            html = html if "text/plain" not in path.read_text(errors="replace") else None
        elif fmt == "html":
            html = path.read_text(encoding="utf-8")
            text = html_to_text(html)
        elif fmt == "text":
            text = "\n".join(path.read_text(encoding="utf-8").split("\n")[d.get("skip_lines", 0):])
        elif fmt == "marked":
            lines = path.read_text(encoding="utf-8").split("\n")
            if d.get("headers"):
                lines = lines[lines.index("") + 1:]
            plain, new = [], []
            for line in lines:
                for mark in ("#reply#", "#sig#"):
                    if line.startswith(mark):
                        (forbidden if mark == "#reply#" else ignore).append(line[len(mark):])
                        plain.append(line[len(mark):])
                        break
                else:
                    plain.append(line)
                    new.append(line)
            text, expected = "\n".join(plain), "\n".join(new)
        elif fmt == "sigpair":
            text = path.read_text(encoding="utf-8")
            sig = (TALON / d["signature"]).read_text(encoding="utf-8").strip()
            expected = text.strip()
            if sig:
                assert expected.endswith(sig), name
                expected = expected[: -len(sig)]
                ignore += sig.split("\n")
        else:
            raise ValueError(fmt)
        out.append(Sample(name, d["family"], d["layout"], d["client"], text.replace("\r\n", "\n"),
                          _clean(expected), ignore, forbidden, html))
    return out


# ---------------------------------------------------------------- metrics

def norm(line: str) -> str:
    return " ".join(line.replace("\u200e", "").split())


def norm_lines(text: str) -> list[str]:
    return [n for n in (norm(l) for l in (text or "").split("\n")) if n]


def _counts(line: str) -> bool:
    return any(c.isalnum() for c in line)


def score(sample: Sample, output: str) -> tuple[bool, bool, bool, bool]:
    """exact, fuzzy, lost (a new line dropped), leak (a quoted line kept)."""
    out = norm_lines(output)
    exact = out == norm_lines(sample.expected)
    ignore = {norm(l) for l in sample.ignore}
    expected = set(norm_lines(sample.expected))
    required = {l for l in expected if l not in ignore and _counts(l)}
    forbidden = {l for l in norm_lines(sample.text) if l not in expected and l not in ignore and _counts(l)}
    forbidden |= {norm(l) for l in sample.forbidden_extra if _counts(norm(l))} - expected
    out_set = set(out)
    lost = bool(required - out_set)
    leak = bool(forbidden & out_set)
    return exact, not lost and not leak, lost, leak


# ---------------------------------------------------------------- tools

def _tools():
    tools, notes = {}, {}

    tools["baseline (bench/quotes/baseline.py)"] = baseline.strip_reply
    tools["project quotes.split_reply (current)"] = lambda t: project_quotes.split_reply(t).new_text

    try:
        import quotequail

        def qq_unwrap(t):
            r = quotequail.unwrap(t)
            if r is None:
                return t
            return "\n\n".join(r[k] for k in ("text_top", "text_bottom") if r.get(k))

        def qq_quote(t):
            return "\n".join(s for keep, s in quotequail.quote(t, quote_intro_line=True) if keep)

        tools["quotequail.unwrap (top+bottom)"] = qq_unwrap
        tools["quotequail.quote (kept parts)"] = qq_quote
    except Exception as exc:  # pragma: no cover
        notes["quotequail"] = repr(exc)

    try:
        from mailparser_reply import EmailReplyParser as MPR

        parser = MPR(languages=["en"])
        tools["mail-parser-reply parse_reply"] = lambda t: parser.parse_reply(t) or ""
        tools["mail-parser-reply replies[0].body"] = lambda t: (parser.read(t).replies or [None])[0].body
    except Exception as exc:  # pragma: no cover
        notes["mail-parser-reply"] = repr(exc)

    try:
        from email_reply_parser import EmailReplyParser as ERP

        tools["email-reply-parser parse_reply"] = ERP.parse_reply
    except Exception as exc:  # pragma: no cover
        notes["email-reply-parser"] = repr(exc)

    try:
        import talon
        from talon import quotations
        from talon.signature.bruteforce import extract_signature

        talon.init()
        tools["talon extract_from_plain"] = quotations.extract_from_plain
        tools["talon extract_from_plain + bruteforce sig"] = lambda t: extract_signature(
            quotations.extract_from_plain(t))[0]
        if not talon.ML_ENABLED:
            try:
                from talon import signature  # noqa: F401
            except Exception as exc:
                notes["talon ML signature"] = f"not importable: {exc!r}"
    except Exception as exc:  # pragma: no cover
        notes["talon"] = repr(exc)

    # the combination worth checking: our rules first, then a library on what is left
    if "quotequail.unwrap (top+bottom)" in tools:
        qq = tools["quotequail.unwrap (top+bottom)"]
        tools["baseline then quotequail.unwrap"] = lambda t: qq(baseline.strip_reply(t))
    if "mail-parser-reply parse_reply" in tools:
        mpr = tools["mail-parser-reply parse_reply"]
        tools["mail-parser-reply then baseline"] = lambda t: baseline.strip_reply(mpr(t))
    return tools, notes


def _html_tools():
    tools = {}
    try:
        import quotequail

        def qq_unwrap_html(h):
            r = quotequail.unwrap_html(h)
            if r is None:
                return html_to_text(h)
            return "\n\n".join(html_to_text(r[k]) for k in ("html_top", "html_bottom") if r.get(k))

        tools["quotequail.unwrap_html"] = qq_unwrap_html
        tools["quotequail.quote_html"] = lambda h: "\n".join(
            html_to_text(s) for keep, s in quotequail.quote_html(h, quote_intro_line=True) if keep)
    except Exception:  # pragma: no cover
        pass
    try:
        import talon
        from talon import quotations

        talon.init()
        tools["talon extract_from_html"] = lambda h: html_to_text(quotations.extract_from_html(h))
    except Exception:  # pragma: no cover
        pass
    return tools


def run(tool, samples, repeat):
    outputs, errors, per_call = {}, {}, []
    for s in samples:  # warm-up + outputs
        src = s.html if tool.__dict__.get("html") else s.text
        try:
            outputs[s.name] = tool(src) or ""
        except Exception as exc:
            outputs[s.name], errors[s.name] = "", repr(exc)
    for _ in range(repeat):
        t0 = time.perf_counter()
        for s in samples:
            try:
                tool(s.html if tool.__dict__.get("html") else s.text)
            except Exception:
                pass
        per_call.append((time.perf_counter() - t0) / len(samples))
    return outputs, errors, statistics.median(per_call) * 1000


def pct(hits, n):
    return f"{hits}/{n}" if n else "-"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fails", action="store_true", help="list the samples each tool gets wrong (fuzzy)")
    ap.add_argument("--show", metavar="NAME", help="print input, label and every output for samples whose name contains NAME")
    ap.add_argument("--repeat", type=int, default=5, help="timing passes (median reported)")
    ap.add_argument("--only", choices=["own", "talon"], help="one sample set only")
    args = ap.parse_args()

    samples = []
    if args.only != "talon":
        samples += own_samples()
    if args.only != "own":
        samples += talon_samples()
    tools, notes = _tools()

    if args.show:
        for s in samples:
            if args.show not in s.name:
                continue
            print(f"\n######## {s.name}  [{s.family}/{s.layout}] {s.client}\n--- input\n{s.text}\n--- expected\n{s.expected}")
            for name, tool in tools.items():
                try:
                    out = tool(s.text) or ""
                except Exception as exc:
                    out = f"!! {exc!r}"
                e, f, lo, le = score(s, out)
                print(f"--- {name}: exact={e} fuzzy={f} lost={lo} leak={le}\n{out}")
        return 0

    fam_n = {f: sum(s.family == f for s in samples) for f in FAMILIES}
    print(f"{len(samples)} samples: {len([s for s in samples if not s.name.startswith('talon/')])} own "
          f"(bench/quotes/samples), {len([s for s in samples if s.name.startswith('talon/')])} talon fixtures; "
          + ", ".join(f"{f} {n}" for f, n in fam_n.items()))
    print("cells: exact / fuzzy hits out of n; lost = new text dropped, leak = quoted text kept\n")

    header = ["tool"] + [f"{f} ({fam_n[f]}) ex/fz" for f in FAMILIES] + ["all exact", "all fuzzy", "fz own", "fz talon", "lost", "leak", "ms/msg"]
    n_own = sum(not s.name.startswith("talon/") for s in samples)
    rows, layout_rows, fails = [], [], {}
    for name, tool in tools.items():
        outputs, errors, ms = run(tool, samples, args.repeat)
        by_fam, by_layout = defaultdict(lambda: [0, 0, 0]), defaultdict(lambda: [0, 0])
        tot = [0, 0, 0, 0]
        by_set = {"own": 0, "talon": 0}
        fails[name] = []
        for s in samples:
            e, f, lo, le = score(s, outputs[s.name])
            by_fam[s.family][0] += e
            by_fam[s.family][1] += f
            by_fam[s.family][2] += 1
            by_layout[s.layout][0] += f
            by_layout[s.layout][1] += 1
            tot = [tot[0] + e, tot[1] + f, tot[2] + lo, tot[3] + le]
            if s.name.startswith("talon/"):
                by_set["talon"] += f
            else:
                by_set["own"] += f
            if not f:
                fails[name].append(f"{s.name} ({'lost' if lo else ''}{'+' if lo and le else ''}{'leak' if le else ''})"
                                   + (f" ERROR {errors[s.name]}" if s.name in errors else ""))
            elif not e:
                fails[name].append(f"{s.name} (exact only)")
        rows.append([name] + [f"{by_fam[f][0]}/{by_fam[f][1]}" for f in FAMILIES]
                    + [f"{100 * tot[0] / len(samples):.0f}%", f"{100 * tot[1] / len(samples):.0f}%",
                       f"{by_set['own']}/{n_own}", f"{by_set['talon']}/{len(samples) - n_own}",
                       tot[2], tot[3], f"{ms:.3f}"])
        layout_rows.append([name] + [pct(by_layout[l][0], by_layout[l][1]) for l in LAYOUTS])
    table(rows, header)

    print("\nfuzzy hits by layout (top-posted / bottom-posted / forward of own mail / interleaved / no quote)\n")
    table(layout_rows, ["tool"] + [f"{l} ({sum(s.layout == l for s in samples)})" for l in LAYOUTS])

    html_samples = [s for s in samples if s.html]
    html_tools = _html_tools()
    if html_samples and html_tools:
        print(f"\nHTML in: {len(html_samples)} samples whose source is HTML only; the library sees the raw HTML, "
              "its kept part is turned into text with the project's html_to_text. Text-in rows for comparison.\n")
        hrows = []
        for name, tool in list(html_tools.items()) + [(n, tools[n]) for n in tools if n in (
                "baseline (bench/quotes/baseline.py)", "project quotes.split_reply (current)",
                "quotequail.unwrap (top+bottom)", "talon extract_from_plain")]:
            if name in html_tools:
                tool.html = True
            outputs, errors, ms = run(tool, html_samples, args.repeat)
            sc = [score(s, outputs[s.name]) for s in html_samples]
            hrows.append([name + ("" if name in html_tools else "  [text in]"), sum(x[0] for x in sc),
                          sum(x[1] for x in sc), sum(x[2] for x in sc), sum(x[3] for x in sc), f"{ms:.3f}"])
            if name in html_tools:
                fails[name + " [HTML]"] = [s.name for s, x in zip(html_samples, sc) if not x[1]]
        table(hrows, ["tool", f"exact/{len(html_samples)}", f"fuzzy/{len(html_samples)}", "lost", "leak", "ms/msg"])

    print("\ninstalled here (importlib.metadata):")
    from importlib import metadata
    for dist in ("quotequail", "mail-parser-reply", "email-reply-parser", "talon"):
        try:
            md = metadata.metadata(dist)
            reqs = sorted({r.split(";")[0].split(" ")[0].split(">")[0].split("=")[0].split("<")[0]
                           for r in (md.get_all("Requires-Dist") or []) if "extra ==" not in r})
            print(f"  {dist} {md['Version']}  licence {md.get('License') or md.get('License-Expression')}  "
                  f"requires: {', '.join(reqs) or '-'}")
        except metadata.PackageNotFoundError:
            print(f"  {dist}: not installed")
    if notes:
        print("\nnot measured / partly measured:")
        for k, v in notes.items():
            print(f"  {k}: {v}")
    if args.fails:
        print("\nfailures per tool (lost/leak = fuzzy failure; 'exact only' = fuzzy pass, exact miss):")
        for name, items in fails.items():
            print(f"\n{name} ({len(items)}):")
            for item in items:
                print(f"  {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
