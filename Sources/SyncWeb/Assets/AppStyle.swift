/// The app's style sheet: system fonts, readable from a narrow window to 1920 px.
enum AppStyle {
    static let source = #"""
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --soft: #f6f8fa; --accent: #0b5cad; --warn: #9a3412; --warnbg: #fff4e5; --ok: #116329; --okbg: #e6f4ea; --focus: #ffbf47; }
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 16px; color: var(--fg); background: var(--bg); }
body { margin: 0; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -1000px; top: 0; background: var(--bg); padding: .5rem; }
.skip:focus { left: .5rem; z-index: 10; }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: var(--soft); }
.brand { font-weight: 700; text-decoration: none; color: var(--fg); font-size: 1.1rem; }
.top nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0; padding: 0; }
.top nav a { text-decoration: none; padding: .25rem .1rem; }
.top nav a[aria-current="page"] { font-weight: 700; border-bottom: 2px solid var(--accent); }
.badge:not(:empty) { display: inline-block; min-width: 1.4em; padding: 0 .35em; border-radius: 1em; background: var(--warn); color: #fff; font-size: .8rem; text-align: center; }
.connection { margin-left: auto; font-size: .9rem; color: var(--muted); }
.connection.down { color: #fff; background: #b42318; padding: .2rem .6rem; border-radius: .3rem; font-weight: 600; }
.connection.up::before { content: "● "; color: var(--ok); }
main { padding: 1rem; max-width: 1600px; margin: 0 auto; }
main.narrow, .narrow { max-width: 40rem; margin: 2rem auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: .4rem; padding: .75rem; background: var(--bg); }
.card .big { font-size: 1.6rem; font-weight: 700; }
.muted { color: var(--muted); }
.problem { background: var(--warnbg); border-left: 4px solid var(--warn); padding: .5rem .75rem; margin: .5rem 0; }
.ok { background: var(--okbg); border-left: 4px solid var(--ok); padding: .5rem .75rem; margin: .5rem 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); position: sticky; top: 0; }
th button { all: unset; cursor: pointer; font-weight: 700; }
th button:focus-visible { outline: 3px solid var(--focus); }
.table-wrap { overflow-x: auto; }
tr.flash td, dd.flash { animation: flash 2.5s ease-out; }
@keyframes flash { from { background: #fff3b0; } to { background: transparent; } }
.changed-by { font-size: .8rem; color: var(--warn); margin-left: .4rem; }
.toolbar { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: .5rem 0 1rem; }
.toolbar label, .field label { display: block; font-size: .85rem; color: var(--muted); margin-bottom: .15rem; }
input, select, textarea, button { font: inherit; }
input, select, textarea { padding: .35rem .45rem; border: 1px solid #8c959f; border-radius: .3rem; max-width: 100%; }
textarea { width: 100%; min-height: 4rem; }
button { padding: .35rem .8rem; border: 1px solid #8c959f; border-radius: .3rem; background: var(--soft); cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { color: #b42318; }
.chips { display: flex; flex-wrap: wrap; gap: .3rem; list-style: none; padding: 0; margin: 0; }
.chip { display: inline-flex; align-items: center; gap: .3rem; border: 1px solid var(--line); border-radius: 1rem; padding: .1rem .6rem; background: var(--soft); }
.chip button { padding: 0 .3rem; border: none; background: none; }
dl.fields { display: grid; grid-template-columns: minmax(8rem, 14rem) 1fr; gap: .4rem 1rem; }
dl.fields dt { font-weight: 600; }
dl.fields dd { margin: 0; }
.field { margin-bottom: .9rem; }
.field .error { color: #b42318; font-size: .9rem; margin-top: .2rem; }
.field input[aria-invalid="true"], .field select[aria-invalid="true"] { border-color: #b42318; }
.siblings { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: .75rem; margin: .5rem 0; }
.sibling { border: 1px solid var(--line); border-radius: .4rem; padding: .6rem; }
.sibling .value { font-size: 1.05rem; font-weight: 600; word-break: break-word; }
.conflict { border: 1px solid var(--line); border-radius: .4rem; padding: .75rem; margin-bottom: 1rem; }
.history { font-size: .9rem; }
.history li { margin-bottom: .3rem; }
.toast:not(:empty) { position: fixed; bottom: 1rem; right: 1rem; background: var(--fg); color: #fff; padding: .6rem 1rem; border-radius: .4rem; z-index: 20; max-width: 30rem; }
.pager { display: flex; gap: .5rem; margin: .75rem 0; align-items: center; }
fieldset { min-width: 0; }
.columns { border: 1px solid var(--line); padding: .4rem .6rem; border-radius: .3rem; }
.columns legend { font-size: .85rem; color: var(--muted); }
.columns label { display: inline-block; margin-right: .6rem; color: var(--fg); font-size: .9rem; }
.completion { list-style: none; margin: .2rem 0 0; padding: 0; border: 1px solid var(--line); max-height: 12rem; overflow: auto; }
.completion li { padding: .25rem .5rem; cursor: pointer; }
.completion li[aria-selected="true"] { background: var(--soft); outline: 2px solid var(--focus); }
.schema-forms { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 22rem), 1fr)); gap: .75rem; margin-bottom: 1rem; }
.schema-form h2 { margin-top: 0; }
.schema-form .toolbar { margin: .4rem 0; }
.schema-form input[type="text"] { width: 100%; }
.schema-form label { display: block; font-size: .85rem; color: var(--muted); margin: .4rem 0 .15rem; }
.schema-form .columns label { display: inline-block; color: var(--fg); font-size: .9rem; margin: 0 .6rem 0 0; }
.schema-form select { max-width: 100%; }
.schema-collection h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
tr.deprecated td { color: var(--muted); }
#deprecated-fields { border-top: 1px solid var(--line); margin-top: 1.5rem; }
@media (max-width: 40rem) {
  dl.fields { grid-template-columns: 1fr; }
  .top { padding: .5rem; }
  main { padding: .5rem; }
  th, td { padding: .3rem; font-size: .9rem; }
}
"""#
}
