"""The report page's stylesheet and its one script, inline in every page (it loads nothing)."""

from __future__ import annotations

__all__ = ["CSS", "SCRIPT"]

CSS = """
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--ok:#15803d;--bad:#b91c1c}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
 "Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
header h1{margin:0;font-size:24px}
header .meta{color:var(--muted);margin-top:4px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-size:14px;font-weight:600;
 vertical-align:middle;margin-left:8px;color:#fff}
.badge.pass{background:var(--ok);color:#fff}.badge.fail{background:var(--bad);color:#fff}
nav{margin:12px 0 4px;display:flex;flex-wrap:wrap;gap:4px 14px}
nav a{color:#2563eb;text-decoration:none}nav a:hover{text-decoration:underline}
.banner{margin:14px 0;padding:12px 16px;border-radius:8px;font-size:15px}
.banner.bad{background:#fee2e2;border:2px solid #dc2626;color:#7f1d1d}
.banner.warn{background:#fef3c7;border:1px solid #d97706;color:#78350f}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin:16px 0}
.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.tile.bad{border-color:#dc2626;background:#fff5f5}
.tile .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.tile .sub{color:var(--muted);font-size:12px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:14px 0}
h2{font-size:17px;margin:0 0 6px}
h3{font-size:14px;margin:4px 0}
h3 i,.key i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.note{color:var(--muted);margin:0 0 8px;font-size:13px}
.empty{color:var(--muted);font-style:italic}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;color:#374151;background:#f9fafb}
.num{text-align:right;white-space:nowrap}
table.wide{font-size:13px}
table.wide td:first-child{white-space:nowrap}
tbody tr:hover{background:#f3f4f6}
.step{padding-left:14px;color:#374151}
.strong{font-weight:700}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:700}
.big{font-size:15px}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;
 border-radius:3px}
code.example{white-space:pre-wrap;word-break:break-all;display:block}
table.errors td:last-child{width:60%}
.fbar{background:#eef2ff;height:16px;border-radius:3px;min-width:220px}
.fbar span{display:block;height:100%;background:#6366f1;border-radius:3px}
table.funnel td:nth-child(4){width:40%}
.legend{display:flex;flex-wrap:wrap;gap:6px;margin:2px 0 4px}
.key{font:inherit;font-size:12px;border:1px solid var(--line);background:#fff;border-radius:12px;padding:1px 10px;
 cursor:pointer;color:var(--fg)}
.key.off{opacity:.4;text-decoration:line-through}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:#eef0f3}svg .axis,svg .tick{stroke:#9ca3af}
svg text{font-size:12px;fill:#4b5563}
svg .ylab{text-anchor:end}svg .xlab{text-anchor:middle}
svg .mark{font-weight:600;font-size:12px}
svg .hover{fill:transparent}svg .hover:hover{fill:rgba(31,41,55,.07)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:8px 18px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-word}
footer{color:var(--muted);font-size:12px;text-align:center}
@media (max-width:900px){.tiles{grid-template-columns:repeat(2,1fr)}.grid2{grid-template-columns:1fr}}
"""

#: The page's only script: the chart keys show and hide their series. It loads nothing.
SCRIPT = """
document.querySelectorAll("button.key").forEach(function (b) {
  b.addEventListener("click", function () {
    var off = b.classList.toggle("off");
    document.querySelectorAll("#" + b.dataset.chart + " .s" + b.dataset.series).forEach(function (g) {
      g.style.display = off ? "none" : "";
    });
  });
});
document.documentElement.setAttribute("data-ready", "1");
"""
