"""Render a results document as the tables and plot of ``docs/performance.md``.

``write_report(doc, md_path, png_path)`` replaces the text between the markers
``<!-- bench:results:start -->`` and ``<!-- bench:results:end -->`` in ``md_path`` with the
table of the main cases, and between ``<!-- bench:structured:start -->`` and
``<!-- bench:structured:end -->`` with the table of the structured-covariance cases (lmerpy vs
lme4 2.1); a block whose group has no case in ``doc`` is left as it is, so a run of one group
(``run.py --group structured --report``) keeps the other's table. The rest of the page is
hand-written and kept. With main cases it also draws their fit time against n (log-log,
lmerpy vs lme4) to ``png_path`` with matplotlib's Agg backend. A run with a cold-start record
also rewrites the block between ``<!-- bench:coldstart:start -->`` and
``<!-- bench:coldstart:end -->``.
"""
import math
import os
from pathlib import Path

from .cases import BY_NAME
from .coldstart import table as cold_table
from .harness import SAME_CRITERION, fmt_time

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
COLD_START = "<!-- bench:coldstart:start -->"
COLD_END = "<!-- bench:coldstart:end -->"
PEERS_START = "<!-- bench:peers:start -->"
PEERS_END = "<!-- bench:peers:end -->"
#: Markers of each group's block: group -> (start, end).
MARKERS = {"main": (START, END),
           "structured": ("<!-- bench:structured:start -->", "<!-- bench:structured:end -->"),
           "nlme": ("<!-- bench:nlme:start -->", "<!-- bench:nlme:end -->")}


def cases_of(doc, group):
    """The result records of one group (records without a group are ``main``)."""
    return [rec for rec in doc["cases"] if rec.get("group", "main") == group]


def _group_doc(doc, group):
    return dict(doc, cases=cases_of(doc, group))


def _side_ok(side):
    return bool(side.get("available")) and side.get("median") is not None


def _pair(a, b, fmt):
    return f"{fmt(a)} / {fmt(b)}"


def _int(v):
    return "—" if v is None else f"{int(v)}"


def _gradient_note(side):
    """A gradient-based lmerpy fit also pays the analytic gradient at each evaluation."""
    g = (side.get("per_eval") or {}).get("per_gradient")
    if side.get("uses_gradient") and g is not None:
        return f" (+ {fmt_time(g)} gradient, {side.get('optimizer')})"
    return ""


def _restart_note(side):
    """lmerpy's feval counts every evaluation; after a restart lme4 counts the last run only."""
    last, total = side.get("optimizer_evals"), side.get("feval")
    if last and total and last != total:
        why = "retried" if side.get("retried") else "restarted" if side.get("restarted") else ""
        return f" ({why + ': ' if why else ''}{last} in lmerpy's last run)"
    return ""


def _mib(v):
    return "—" if v is None else f"{v:.0f}"


def _na(side):
    why = side.get("reason") or side.get("error") or "not run"
    return f"n/a ({why.splitlines()[0][:60]})"


def _cell(text):
    return str(text).replace("|", "\\|")


def _timing_cells(rec):
    """The cells both tables share: each side's median (or why it is missing), the ratio, and
    each side's time per evaluation."""
    a, b = rec["lmerpy"], rec["lme4"]
    ta = fmt_time(a["median"]) if _side_ok(a) else _na(a)
    tb = fmt_time(b["median"]) if _side_ok(b) else _na(b)
    ratio = f"**{rec['ratio']:.2f}x**" if rec.get("ratio") else "—"
    pe = (a.get("per_eval") or {}).get("per_eval"), (b.get("per_eval") or {}).get("per_eval")
    return ta, tb, ratio, pe


def table(doc):
    """The markdown results table (one row per case of ``doc``, whatever its group)."""
    head = ("| case | n | lmerpy | lme4 | lme4 / lmerpy | evaluations (lmerpy / lme4) "
            "| per evaluation (lmerpy / lme4) | fit time ÷ evaluations (lmerpy / lme4) "
            "| peak memory Δ MiB (lmerpy / lme4) | −2 logLik: lmerpy − lme4 | lmerpy backend |")
    rows = [head, "|" + "---|" * 11]
    for rec in doc["cases"]:
        a, b = rec["lmerpy"], rec["lme4"]
        ta, tb, ratio, pe = _timing_cells(rec)
        ma = (a.get("memory") or {}).get("delta_mb")
        mb = (b.get("memory") or {}).get("delta_mb")
        diff = rec.get("objective_diff")
        rows.append("| " + " | ".join(_cell(c) for c in [
            rec["title"], f"{rec['n']:,}" if rec.get("n") else "—", ta, tb, ratio,
            _pair(a.get("feval"), b.get("feval"), _int) + _restart_note(a),
            _pair(pe[0], pe[1], fmt_time) + _gradient_note(a),
            _pair(a.get("time_per_feval"), b.get("time_per_feval"), fmt_time),
            _pair(ma, mb, _mib),
            "—" if diff is None else f"{diff:+.2g}",
            a.get("backend") or "—",
        ]) + " |")
    return "\n".join(rows)


def _better(rec):
    rel = rec.get("objective_rel_diff")
    if rel is None:
        return "—"
    if rec.get("better") == "same":
        return f"same (≤ {SAME_CRITERION:.0e})"
    return f"**{rec['better']}**"


def structured_table(doc):
    """The table of the structured-covariance cases: lmerpy vs lme4 2.1, evaluations, and the
    REML criteria (difference, relative difference, which side found the lower one)."""
    head = ("| case | n | par / θ | lmerpy | lme4 2.1 | lme4 / lmerpy | evaluations (lmerpy / lme4) "
            "| per evaluation (lmerpy / lme4) | fit time ÷ evaluations (lmerpy / lme4) "
            "| REML criterion: lmerpy − lme4 (relative) | lower criterion |")
    rows = [head, "|" + "---|" * 11]
    for rec in doc["cases"]:
        a, b = rec["lmerpy"], rec["lme4"]
        ta, tb, ratio, pe = _timing_cells(rec)
        side = a if a.get("npar") is not None else b
        sizes = (f"{side['npar']} / {side['ntheta']}"
                 if side.get("npar") is not None and side.get("ntheta") is not None else "—")
        diff, rel = rec.get("objective_diff"), rec.get("objective_rel_diff")
        crit = "—" if diff is None else f"{diff:+.2g} ({rel:+.1e})"
        rows.append("| " + " | ".join(_cell(c) for c in [
            rec["title"], f"{rec['n']:,}" if rec.get("n") else "—", sizes, ta, tb, ratio,
            _pair(a.get("feval"), b.get("feval"), _int) + _restart_note(a),
            _pair(pe[0], pe[1], fmt_time) + _gradient_note(a),
            _pair(a.get("time_per_feval"), b.get("time_per_feval"), fmt_time),
            crit, _better(rec),
        ]) + " |")
    return "\n".join(rows)


def nlme_table(doc):
    """The table of nlme's models: lmerpy.gls / lmerpy.lme against nlme's, and the
    log-likelihoods (difference, relative difference, which side found the higher one)."""
    head = ("| case | n | lmerpy | nlme | nlme / lmerpy "
            "| −2 logLik: lmerpy − nlme (relative) | lower criterion |")
    rows = [head, "|" + "---|" * 7]
    for rec in doc["cases"]:
        ta, tb, ratio, _ = _timing_cells(rec)
        diff, rel = rec.get("objective_diff"), rec.get("objective_rel_diff")
        crit = "—" if diff is None else f"{diff:+.2g} ({rel:+.1e})"
        better = _better(rec).replace("lme4", "nlme")
        rows.append("| " + " | ".join(_cell(c) for c in [
            rec["title"], f"{rec['n']:,}" if rec.get("n") else "—", ta, tb, ratio, crit,
            better]) + " |")
    return "\n".join(rows)


def _peer_names(doc):
    names = []
    for rec in doc["cases"]:
        for peer in rec.get("peers") or {}:
            if peer not in names:
                names.append(peer)
    return names


def _peer_version(doc, peer):
    for rec in doc["cases"]:
        v = ((rec.get(peer) or {}).get("ready") or {}).get("version")
        if v:
            return v
    return "?"


def _boot_note(side):
    """lmerpy's bootstrap with two workers, beside the serial figure."""
    fits = [f for f in side.get("fits", []) if "time_threads2" in f]
    if not fits:
        return ""
    import statistics
    th = statistics.median(f["time_threads2"] for f in fits)
    pr = statistics.median(f["time_processes2"] for f in fits)
    return f" (n_jobs=2: threads {fmt_time(th)}, processes {fmt_time(pr)})"


def peers_table(doc):
    """lmerpy beside the Rust peers (and lme4): medians, the peers' time ÷ lmerpy's, and the
    criterion each reached (−2 log-likelihood, REML criterion for REML fits) against
    lmerpy's."""
    peers = _peer_names(doc)
    vers = {p: _peer_version(doc, p) for p in peers}
    head = ("| case | n | lmerpy | " + " | ".join(f"{p} {vers[p]}" for p in peers)
            + " | lme4 | " + " | ".join(f"{p} / lmerpy" for p in peers)
            + " | lme4 / lmerpy | −2 logLik − lmerpy's: " + " / ".join(peers)
            + " | evaluations: lmerpy / " + " / ".join(peers) + " |")
    ncol = 7 + 2 * len(peers)
    rows = [head, "|" + "---|" * ncol]
    for rec in doc["cases"]:
        if not rec.get("peers"):
            continue
        a, b = rec["lmerpy"], rec["lme4"]
        ta = (fmt_time(a["median"]) if _side_ok(a) else _na(a)) + _boot_note(a)
        cells = [rec["title"], f"{rec['n']:,}" if rec.get("n") else "—", ta]
        for p in peers:
            side = rec.get(p) or {}
            cells.append(fmt_time(side["median"]) if _side_ok(side) else _na(side))
        cells.append(fmt_time(b["median"]) if _side_ok(b) else _na(b))
        for p in peers:
            r = (rec["peers"].get(p) or {}).get("ratio")
            cells.append(f"**{r:.2f}x**" if r else "—")
        cells.append(f"**{rec['ratio']:.2f}x**" if rec.get("ratio") else "—")
        diffs = []
        for p in peers:
            d = (rec["peers"].get(p) or {}).get("objective_diff")
            diffs.append("—" if d is None else f"{-d:+.2g}")
        cells.append(" / ".join(diffs))
        evals = [_int(a.get("feval"))] + [_int((rec.get(p) or {}).get("feval")) for p in peers]
        cells.append("—" if _is_boot(rec) else " / ".join(evals))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def _is_boot(rec):
    case = BY_NAME.get(rec.get("name"))
    return bool(case and case.boot)


def render_peers(doc, img_rel=None):
    """The generated block of the peers' table (and their plot's link)."""
    peers = _peer_names(doc)
    loads = [x for rec in doc["cases"] if rec.get("peers")
             for key in ("loadavg_start", "loadavg_end") for x in (rec.get(key) or [])[:1]]
    notes = [
        "Each peer runs in its own virtual environment (`benchmarks/run.py --peers` makes "
        "them), in a warm process of its own, one thread (BLAS and Rayon), repetitions "
        "alternating with lmerpy's and lme4's; medians. A ratio above 1 means lmerpy is "
        "faster. The criterion column is each peer's −2 log-likelihood (REML criterion for "
        "REML fits) minus lmerpy's: positive means lmerpy's optimum is lower.",
        "Bootstrap row: `bootMer(fit, fixef, nsim = 1000)` for lmerpy and lme4 (serial; "
        "lmerpy's two-worker times in brackets), mixedlm's own `bootMer`, and for glmm (which "
        "has none) 1000 fits of simulated responses warm-started at the fit's β̂ and θ̂.",
    ]
    if loads:
        notes.append(f"1-minute load average during these cases: {min(loads):.2f}–"
                     f"{max(loads):.2f} on {doc.get('machine', {}).get('cpus', '?')} cores.")
    img = [f"![fit time against n, lmerpy vs the Rust peers and lme4]({img_rel})", ""] \
        if img_rel else []
    return "\n".join([PEERS_START, "", *[n + "\n" for n in notes], peers_table(doc), "",
                      *img, PEERS_END]) if peers else ""


def _source_text(src):
    if not src or not src.get("commit"):
        return ""
    dirty = src.get("lmerpy_uncommitted_files") or 0
    return (f" lmerpy at commit `{src['commit'][:10]}`"
            + (f" plus uncommitted changes in {dirty} file(s) of lmerpy/." if dirty else "."))


def header(doc, group="main"):
    m, s = doc.get("machine", {}), doc.get("settings", {})
    py = lme = {}
    for rec in doc["cases"]:
        py = py or (rec["lmerpy"].get("ready") or {}).get("versions") or {}
        lme = lme or (rec["lme4"].get("ready") or {}).get("versions") or {}
    loads = [x for rec in doc["cases"] for key in ("loadavg_start", "loadavg_end")
             for x in (rec.get(key) or [])[:1]]
    r_pkg = "nlme" if group == "nlme" else "lme4"
    lines = [
        f"Run {doc.get('date', '?')} on `{m.get('host', '?')}` ({m.get('cpu', '?')}, "
        f"{m.get('cpus', '?')} CPUs, {m.get('mem_total_gib', '?')} GiB), "
        f"{doc.get('wall_seconds', '?')} s in all." + _source_text(doc.get("source")),
        f"One BLAS thread on both sides ({', '.join(f'{k}={v}' for k, v in s.get('env', {}).items())}"
        f"; lmerpy also pins its pools with threadpoolctl). Repetitions alternate lmerpy, "
        f"{r_pkg}, lmerpy, …; times are medians of the time per fit in a warm process.",
        f"lmerpy {py.get('lmerpy', '?')} (Python {py.get('python', '?')}, numpy "
        f"{py.get('numpy', '?')}, scipy {py.get('scipy', '?')}, sparse Cholesky: "
        f"{py.get('sparse_cholesky', '?')}); "
        + (f"{lme.get('R', 'R ?')}, {r_pkg} {lme.get(r_pkg, '?')}, BLAS "
           f"`{lme.get('BLAS', '?')}`." if lme else
           f"{r_pkg} not run ({s.get('lme4_skipped_reason')})."),
    ]
    if loads:
        lines.append(f"Machine load (1-min load average at the start/end of each case): "
                     f"{min(loads):.2f}–{max(loads):.2f} on {m.get('cpus', '?')} cores — "
                     "other work shared the machine, so compare ratios rather than absolute "
                     "times.")
    return "\n\n".join(lines)


def render(doc, img_rel="img/performance.png", group="main"):
    """The generated block of one group: header, table, notes on unavailable sides, and for
    the main group the plot link."""
    doc = _group_doc(doc, group)
    start, end = MARKERS[group]
    body = (structured_table(doc) if group == "structured" else
            nlme_table(doc) if group == "nlme" else table(doc))
    parts = [start, "", header(doc, group), "", body, ""]
    warn_lines = []
    for rec in doc["cases"]:
        for label in ("lmerpy", "lme4"):
            ws = rec[label].get("warnings") or []
            if ws:
                shown = "nlme" if group == "nlme" and label == "lme4" else label
                warn_lines.append(f"- {rec['title']}, {shown}: " + "; ".join(
                    w.replace("\n", " ")[:160] for w in ws[:3]))
    if warn_lines:
        parts += ["Warnings and messages during the fits:", ""] + warn_lines + [""]
    if group == "main":
        parts += [f"![fit time against n, lmerpy vs lme4]({img_rel})", ""]
    parts.append(end)
    return "\n".join(parts)


def plot(doc, png_path):
    """Median fit time against n (log-log), lmerpy and lme4, one point per main case and side."""
    doc = _group_doc(doc, "main")
    doc = dict(doc, cases=[r for r in doc["cases"] if not _is_boot(r)])
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    colors = {"lmerpy": "tab:blue", "lme4": "tab:orange"}
    for peer, color in zip(_peer_names(doc), ("tab:green", "tab:red", "tab:purple")):
        colors[peer] = color
    markers = {"lmer": "o", "glmer": "^"}
    for label, color in colors.items():
        for fn, marker in markers.items():
            pts = [(rec["n"], rec[label]["median"]) for rec in doc["cases"]
                   if rec.get("n") and rec["fn"] == fn and _side_ok(rec.get(label) or {})]
            if pts:
                ax.plot(*zip(*pts), ls="none", marker=marker, ms=7, color=color,
                        mfc=color if label == "lmerpy" else "none", mew=1.6,
                        label=f"{label} ({'LMM' if fn == 'lmer' else 'GLMM'})")
        crossed = sorted((rec["n"], rec[label]["median"]) for rec in doc["cases"]
                         if rec.get("data") == "synthetic" and rec.get("n")
                         and _side_ok(rec.get(label) or {}))
        if len(crossed) > 1:
            ax.plot(*zip(*crossed), color=color, lw=1, alpha=0.6)
    for rec in doc["cases"]:
        ys = [rec[lb]["median"] for lb in colors if _side_ok(rec.get(lb) or {})]
        if rec.get("n") and len(ys) >= 2:
            ax.plot([rec["n"]] * 2, [min(ys), max(ys)], color="0.7", lw=0.8, zorder=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("observations n")
    ax.set_ylabel("median fit time (s)")
    ax.set_title("Fit time, lmerpy vs " + ", ".join(lb for lb in colors if lb != "lmerpy")
                 + " (one thread, side by side)")
    ax.grid(True, which="both", alpha=0.25)
    ax.margins(x=0.15, y=0.15)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    _label_points(fig, ax, doc, colors)
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)
    return png_path


def _label_points(fig, ax, doc, colors):
    """Name each case beside its pair of points, moving labels up or down until none overlap."""
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed = []
    recs = [r for r in doc["cases"] if r.get("n")]
    for rec in sorted(recs, key=lambda r: r["n"]):
        ys = [rec[lb]["median"] for lb in colors if _side_ok(rec.get(lb) or {})]
        if not ys:
            continue
        y = math.exp(sum(math.log(v) for v in ys) / len(ys))
        known = BY_NAME.get(rec.get("name"))
        text = rec.get("short") or (known.short if known else "") or rec.get("name")
        for dy in (0, 9, -9, 18, -18, 27, -27, 36, -36):
            ann = ax.annotate(text, (rec["n"], y), textcoords="offset points",
                              xytext=(7, dy - 3), fontsize=7.5, color="0.2")
            box = ann.get_window_extent(renderer)
            if not any(box.overlaps(p) for p in placed):
                break
            ann.remove()
        else:
            ann = ax.annotate(text, (rec["n"], y), textcoords="offset points",
                              xytext=(7, -3), fontsize=7.5, color="0.2")
        placed.append(ann.get_window_extent(renderer))


def render_cold_start(rec):
    """The generated cold-start block: what was run, the medians, lmerpy's share."""
    lm, fl = rec.get("lmerpy", {}).get("median", {}), rec.get("floor", {}).get("median", {})
    share = ""
    if lm.get("wall") is not None and fl.get("wall") is not None:
        share = (f" lmerpy's share (the script minus the floor): "
                 f"{(lm['wall'] - fl['wall']) * 1e3:.0f} ms of {lm['wall'] * 1e3:.0f} ms.")
    load = rec.get("loadavg")
    return "\n".join([
        COLD_START, "",
        f"`{rec.get('script', '')}` in a fresh process, {rec.get('runs')} runs alternating "
        f"with the floor, medians; thread variables: {rec.get('thread_variables', '?')}"
        + (f"; 1-minute load average {load[0]:.2f} at the end" if load else "") + "." + share,
        "", cold_table(rec), "", COLD_END])


def _replace_block(text, start, end, block):
    if start in text and end in text:
        pre, rest = text.split(start, 1)
        return pre + block + rest.split(end, 1)[1]
    return text.rstrip("\n") + "\n\n" + block + "\n"


#: the generated blocks :func:`write_report` can rewrite
BLOCKS = ("main", "structured", "nlme", "coldstart", "peers")


def peers_png(png_path):
    """Where the peers' plot goes, beside the main one."""
    png_path = Path(png_path)
    return png_path.with_name(png_path.stem + "-peers" + png_path.suffix)


def write_report(doc, md_path, png_path, blocks=None):
    """Update the generated blocks of ``md_path`` (created if missing) for the groups with
    cases in ``doc``, and draw ``png_path`` when the main group has some (and, with Rust
    peers in ``doc``, their plot beside it, :func:`peers_png`). ``blocks``: only these of
    :data:`BLOCKS` (default all). Returns the two paths (``None`` for the plot when it was
    not drawn)."""
    blocks = set(BLOCKS if blocks is None else blocks)
    md_path, png_path = Path(md_path), Path(png_path)
    rel = os.path.relpath(png_path, md_path.parent).replace(os.sep, "/")
    text = md_path.read_text() if md_path.exists() else f"# Performance\n\n{START}\n{END}\n"
    for group, (start, end) in MARKERS.items():
        if not cases_of(doc, group) or group not in blocks:
            continue
        text = _replace_block(text, start, end, render(doc, img_rel=rel, group=group))
    if doc.get("cold_start") and "coldstart" in blocks:
        text = _replace_block(text, COLD_START, COLD_END, render_cold_start(doc["cold_start"]))
    has_peers = bool(_peer_names(doc)) and "peers" in blocks
    if has_peers:
        prel = os.path.relpath(peers_png(png_path), md_path.parent).replace(os.sep, "/")
        text = _replace_block(text, PEERS_START, PEERS_END, render_peers(doc, img_rel=prel))
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(text)
    drawn = None
    try:
        if cases_of(doc, "main") and "main" in blocks:
            drawn = plot(doc, png_path)
        if has_peers and cases_of(doc, "main"):
            peers_drawn = plot(doc, peers_png(png_path))
            drawn = drawn or peers_drawn
    except ImportError:
        return md_path, None  # matplotlib missing: table only (pip install lmerpy[bench])
    return md_path, drawn
