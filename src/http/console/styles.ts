/**
 * The console's one stylesheet, inlined under the response's CSP nonce (no build, no extra request).
 * Colours are variables so dark mode (prefers-color-scheme) only swaps the palette. Badges always pair
 * their colour with a word, so status never depends on colour alone.
 */
export const consoleStyles = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #ffffff; --text: #1b1f24; --muted: #57606a; --border: #d0d7de;
  --accent: #0b5cad; --accent-text: #ffffff; --focus: #f0a000; --danger: #b42318; --danger-bg: #fdecea;
  --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff8c5; --info: #0b5cad; --info-bg: #ddf4ff;
  --neutral: #57606a; --neutral-bg: #eaeef2;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 16px; line-height: 1.5;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --panel: #161b22; --text: #e6edf3; --muted: #9da7b3; --border: #30363d;
    --accent: #4493f8; --accent-text: #0d1117; --focus: #f0b429; --danger: #ff7b72; --danger-bg: #3d1214;
    --ok: #56d364; --ok-bg: #0f2e1a; --warn: #e3b341; --warn-bg: #3a2a05; --info: #79c0ff; --info-bg: #0c2d4a;
    --neutral: #9da7b3; --neutral-bg: #262c36;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip-link { position: absolute; left: -9999px; }
.skip-link:focus { left: 1rem; top: 1rem; background: var(--panel); padding: .5rem; z-index: 10; }
header.top { background: var(--panel); border-bottom: 1px solid var(--border); }
header.top .bar { max-width: 1200px; margin: 0 auto; padding: .5rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; }
header.top .brand { font-weight: 700; margin-right: auto; }
header.top nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 1rem; margin: 0; padding: 0; }
header.top nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
header.top .who { display: flex; gap: .75rem; align-items: center; color: var(--muted); font-size: .9rem; flex-wrap: wrap; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 0 0 .5rem; }
.card { background: var(--panel); border: 1px solid var(--border); border-radius: 8px; padding: 1rem; margin-bottom: 1rem; }
.muted { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; overflow-wrap: break-word; }
pre { background: var(--bg); border: 1px solid var(--border); border-radius: 6px; padding: .75rem; overflow: auto; max-height: 28rem; font-size: .85rem; }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
fieldset { border: 1px solid var(--border); border-radius: 6px; margin: .75rem 0; padding: .5rem 1rem 1rem; }
legend { font-weight: 700; padding: 0 .25rem; }
fieldset.choices label { display: inline-flex; gap: .4rem; align-items: center; font-weight: 400; margin: .25rem 1.5rem .25rem 0; }
input[type=text], input[type=email], input[type=url], input[type=password], input[type=search], select, textarea {
  width: 100%; max-width: 36rem; padding: .5rem; font: inherit; color: var(--text); background: var(--bg);
  border: 1px solid var(--border); border-radius: 6px;
}
textarea { min-height: 5rem; }
[aria-invalid="true"] { border-color: var(--danger) !important; }
button, .button { display: inline-block; font: inherit; font-weight: 600; padding: .5rem 1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-text); cursor: pointer; text-decoration: none; }
button.secondary, .button.secondary { background: transparent; color: var(--accent); }
button.link { background: none; border: none; padding: 0; color: var(--accent); text-decoration: underline; font-weight: 400; }
.actions { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; margin-top: 1rem; }
.hint { color: var(--muted); font-size: .9rem; margin: .25rem 0; }
.field-error { color: var(--danger); font-weight: 600; margin: .25rem 0; }
.field-error:empty { display: none; }
.alert { border-radius: 6px; padding: .75rem 1rem; margin: 0 0 1rem; border: 1px solid; }
.alert.error { color: var(--danger); background: var(--danger-bg); border-color: var(--danger); }
.alert.info { color: var(--info); background: var(--info-bg); border-color: var(--info); }
.alert.warn { color: var(--text); background: var(--warn-bg); border-color: var(--warn); }
.alert p { margin: .25rem 0; }
.alert.halt { color: var(--text); background: var(--danger-bg); border: 2px solid var(--danger); }
.alert.halt strong { color: var(--danger); }
.notice code { font-weight: 700; }
.warn-text { color: var(--warn); font-weight: 600; }
h3 { font-size: 1rem; margin: 1rem 0 .5rem; }
button.danger, .button.danger { background: var(--danger); border-color: var(--danger); color: var(--panel); }
.controls { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: .75rem; align-items: start; }
details.control { border: 1px solid var(--border); border-radius: 6px; padding: .25rem .75rem; margin: 0; background: var(--bg); min-width: 0; }
details.control[open] { grid-column: 1 / -1; background: var(--panel); padding-bottom: .75rem; }
details.control > summary { padding: .5rem 0; }
details.control form { max-width: 40rem; }
input[type=number] { width: 100%; max-width: 12rem; padding: .5rem; font: inherit; color: var(--text); background: var(--bg); border: 1px solid var(--border); border-radius: 6px; }
.filter-tabs { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem 1rem; margin: 0 0 .75rem; padding: 0; }
.filter-tabs a[aria-current] { font-weight: 700; text-decoration-thickness: 3px; }
.tenant-picker { margin-top: .5rem; }
form:has(input[name=scope][value=all_tenants]:checked) .tenant-picker { display: none; }
form:has(input[name=canaryMode][value=count]:not(:checked)) .canary-count { display: none; }
form:has(input[name=canaryMode][value=tenants]:not(:checked)) .canary-tenants { display: none; }
form:has(input[name=canaryMode][value=none]:checked) .canary-auto { display: none; }
fieldset.canary .canary-count label, fieldset.canary .canary-tenants label { display: block; font-weight: 600; margin: .5rem 0 .25rem; }
.preflight-result:empty { display: none; }
.parameter-fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: 0 1rem; }
.parameter-fields .parameter label { margin-top: .5rem; }
label.checkbox { display: inline-flex; gap: .4rem; align-items: center; }
ul.parameters { list-style: none; margin: 0; padding: 0; }
.preflight-result { display: block; margin-top: .75rem; }
.preflight-plan:empty { display: none; }
.preflight-id { margin: .5rem 0 0; overflow-wrap: anywhere; }
section.would-fail { margin-top: .75rem; padding: .5rem 1rem; border: 2px solid var(--danger); border-radius: 6px; background: var(--danger-bg); }
section.would-fail h3 { margin: .25rem 0; color: var(--danger); font-size: 1.05rem; }
ul.would-fail-list { margin: .25rem 0; padding-left: 1.25rem; }
ul.would-fail-list li { margin: .25rem 0; overflow-wrap: anywhere; }
ul.plain { list-style: none; margin: 0; padding: 0; }
ul.plain li { margin: .25rem 0; overflow-wrap: anywhere; }
form.inline { display: inline; margin-left: .5rem; }
.no-failures { margin: .5rem 0 0; }
details.plan { margin: .75rem 0 0; }
table.plan-table th[scope=row] { color: var(--text); font-size: inherit; font-weight: 600; }
table.plan-table tr.fails th, table.plan-table tr.fails td { background: var(--danger-bg); }
table.plan-table .message { overflow-wrap: anywhere; }
section.drift-report { margin: 0 0 1.25rem; }
section.drift-report code { overflow-wrap: anywhere; }
table.drift-table { margin-bottom: .25rem; }
table.drift-table th[scope=row] { color: var(--text); font-size: inherit; font-weight: 600; }
table.drift-table tr.fails th, table.drift-table tr.fails td { background: var(--danger-bg); }
.pin { margin-top: .75rem; }
.pin-note { margin: 0 0 .25rem; overflow-wrap: anywhere; }
dl.counts { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .5rem; margin: 0; }
dl.counts div { background: var(--bg); border: 1px solid var(--border); border-radius: 6px; padding: .5rem .75rem; }
dl.counts dt { color: var(--muted); font-size: .85rem; }
dl.counts dd { margin: 0; font-size: 1.3rem; font-weight: 700; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: .1rem .55rem; border-radius: 999px; font-size: .85rem; font-weight: 700; border: 1px solid; white-space: nowrap; }
.badge.neutral { color: var(--neutral); background: var(--neutral-bg); }
.badge.info { color: var(--info); background: var(--info-bg); }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.danger { color: var(--danger); background: var(--danger-bg); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--panel); }
th, td { text-align: left; padding: .5rem; border-bottom: 1px solid var(--border); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); }
progress { width: 100%; height: 1.25rem; accent-color: var(--accent); }
details { margin-bottom: 1rem; }
details > summary { cursor: pointer; font-weight: 700; padding: .25rem 0; }
.filters { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: 0 1rem; align-items: end; }
.filters label { margin-top: .5rem; }
.pagination { display: flex; gap: 1rem; margin-top: 1rem; flex-wrap: wrap; }
.login { max-width: 26rem; margin: 3rem auto; }
ol.timeline { list-style: none; padding: 0; margin: 0; }
.timeline-entry { border-bottom: 1px solid var(--border); padding: .4rem 0; overflow-wrap: anywhere; }
.timeline-entry p { margin: .15rem 0; }
.timeline-when { color: var(--muted); font-size: .9rem; }
.timeline-why { padding-left: 1rem; }
.timeline-entry details { margin: .15rem 0 0; }
.timeline-entry details > summary { font-weight: 400; font-size: .9rem; color: var(--muted); }
@media (max-width: 600px) {
  main { padding: .75rem; }
  .card { padding: .75rem; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: .5rem; }
  button, .button { width: 100%; text-align: center; }
  header.top .who button { width: auto; }
  /* Tables read as one card per row: every cell on its own line, led by its column's name. */
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.stack, table.stack tbody, table.stack tr { display: block; width: 100%; }
  table.stack tr { border-bottom: 1px solid var(--border); padding: .4rem 0; }
  table.stack caption { display: block; text-align: left; padding: .25rem .5rem; }
  table.stack td { display: grid; grid-template-columns: 7.5rem minmax(0, 1fr); justify-items: start; gap: .5rem; border: 0; padding: .2rem .5rem; overflow-wrap: anywhere; }
  table.stack td::before { content: attr(data-label); color: var(--muted); font-size: .85rem; font-weight: 700; }
  table.plan-table th[scope=row], table.drift-table th[scope=row] { display: block; border: 0; padding: .2rem .5rem; overflow-wrap: anywhere; }
}
`
