"""The page's own style and script (served inline: nothing comes from a CDN).

The script is one delegated click handler. A citation ([n] in an answer, or a source
line's [n]) names its article and spans in a class (`cqa-ref-...`); the handler writes
`view:<doc>:<start>:<end>:<a>:<b>` into a hidden textbox and clicks a hidden button,
which fires a Gradio event (no route of its own, no page reload). The same for the
documents panel's open/remove buttons. It also toggles a source's full passage and
copies an answer's Markdown to the clipboard.
"""

CSS = """
.cqa-answer { margin-bottom: .3em; }
.cqa-answer sup { cursor: pointer; color: var(--link-text-color, #2563eb); }
.cqa-abstain { border-left: 4px solid #b45309; background: #fffbeb; color: #78350f; padding: .4em .7em; }
.cqa-error { border-left: 4px solid #b91c1c; background: #fef2f2; color: #7f1d1d; padding: .4em .7em; }
.dark .cqa-abstain { background: #422006; color: #fde68a; border-left-color: #f59e0b; }
.dark .cqa-error { background: #450a0a; color: #fecaca; border-left-color: #f87171; }
.cqa-sources { margin: .1em 0 0 0; padding-left: 0; list-style: none; font-size: .9em; line-height: 1.35; }
.cqa-sources li { margin: 0 0 .3em 0; }
.cqa-again { color: var(--body-text-color-subdued, #6b7280); font-size: .9em; white-space: nowrap; }
.cqa-meta-again { display: none; }
.cqa-low { opacity: .75; }
.cqa-meta { color: var(--body-text-color-subdued, #6b7280); font-size: .9em; }
.cqa-note { color: var(--body-text-color-subdued, #6b7280); font-size: .9em; font-style: italic; margin: .3em 0; }
.cqa-cite { cursor: pointer; color: var(--link-text-color, #2563eb); font-weight: 600; white-space: nowrap; }
.cqa-cite:hover, .cqa-more:hover, .cqa-copy:hover { text-decoration: underline; }
.cqa-snippet { color: var(--body-text-color); }
.cqa-more, .cqa-copy { cursor: pointer; color: var(--link-text-color, #2563eb); font-size: .85em; margin-left: .3em; }
.cqa-passage { max-height: 0; overflow: hidden; font-size: .95em; }
.cqa-open .cqa-passage { max-height: none; overflow: visible; border-left: 3px solid var(--border-color-primary, #ddd);
  margin: .3em 0 .3em .2em; padding-left: .6em; }
.cqa-md { display: none; }
.cqa-tick { color: #15803d; font-weight: 700; }
.dark .cqa-tick { color: #4ade80; }
.cqa-pending { color: var(--body-text-color-subdued, #6b7280); font-style: italic; }
.cqa-unsupported { font-size: .9em; margin: .2em 0 .4em 0; }
.cqa-unsupported ul { margin: .1em 0 0 1.2em; padding: 0; }
.cqa-unsupported s { color: #b91c1c; }
.dark .cqa-unsupported s { color: #fca5a5; }
.cqa-why { color: var(--body-text-color-subdued, #6b7280); font-style: italic; }
.cqa-extractive { color: var(--body-text-color); }
.cqa-tools { font-size: .9em; margin-top: .2em; }
mark, .cqa-sources mark { background: #fde68a; color: inherit; padding: 0 .1em; }
.dark mark, .dark .cqa-sources mark { background: #854d0e; color: #fef9c3; }
.cqa-filters { font-size: .9em; padding: .3em .6em; border-radius: 6px; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); }
.cqa-filters-bad { border-color: #b91c1c; }
.cqa-article { padding: .2em .4em; }
.cqa-article-title { font-size: 1.1em; }
.cqa-article-text { white-space: pre-wrap; line-height: 1.5; margin-top: .6em; overflow-wrap: anywhere; }
.cqa-article mark.cqa-span { background: #fef3c7; }
.cqa-article .cqa-hit { background: #fde68a; font-weight: 600; }
.dark .cqa-article mark.cqa-span { background: #713f12; color: #fef9c3; }
.dark .cqa-article .cqa-hit { background: #a16207; color: #fff; }
.cqa-empty { color: var(--body-text-color-subdued); }
.cqa-docs { width: 100%; border-collapse: collapse; font-size: .88em; }
.cqa-docs th, .cqa-docs td, .cqa-upload-result th, .cqa-upload-result td { text-align: left; padding: .25em .35em;
  border-bottom: 1px solid var(--border-color-primary); vertical-align: top; overflow-wrap: break-word; }
/* words are never split: only the title column wraps (between words); a long source name
   breaks only when it cannot fit on its own line */
.cqa-docs th, .cqa-docs .cqa-col-date, .cqa-docs .cqa-col-chunks, .cqa-docs .cqa-col-remove { white-space: nowrap; }
.cqa-docs .cqa-col-title { width: 100%; min-width: 9em; }
.cqa-docs .cqa-col-outlet { min-width: 5em; }
.cqa-docs .cqa-num { text-align: right; }
.cqa-docs thead th { position: sticky; top: 0; background: var(--background-fill-primary); z-index: 1; }
.cqa-sort { all: unset; cursor: pointer; font-weight: 600; }
.cqa-sort:hover { text-decoration: underline; }
.cqa-pager { display: flex; flex-wrap: wrap; gap: .3em; align-items: center; margin: .3em 0; font-size: .88em; }
.cqa-page { cursor: pointer; border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 0 .45em;
  background: var(--background-fill-secondary); color: var(--body-text-color); white-space: nowrap;
  font-size: 1em; font-weight: normal; line-height: 1.6; }
.cqa-page[disabled] { opacity: .45; cursor: default; }
.cqa-doc-open { all: unset; cursor: pointer; color: var(--link-text-color, #2563eb); font-weight: 600; }
.cqa-doc-remove { cursor: pointer; font-size: .85em; border: 1px solid var(--border-color-primary); border-radius: 4px;
  padding: 0 .4em; background: var(--background-fill-secondary); color: var(--body-text-color); white-space: nowrap; }
#cqa-doclist .cqa-doclist { max-height: 52vh; overflow-y: auto; }
#cqa-confirm-row { align-items: center; flex-wrap: nowrap; }
#cqa-confirm-row > :first-child { flex: 1 1 auto; min-width: 0; }
.cqa-docs td, .cqa-docs th { border-left: none; border-right: none; }
.cqa-examples { display: flex; flex-wrap: wrap; gap: .35em; align-items: center; font-size: .9em; }
.cqa-example { cursor: pointer; border: 1px solid var(--border-color-primary); border-radius: 999px; padding: .15em .7em;
  background: var(--background-fill-secondary); color: var(--body-text-color); text-align: left;
  font-size: .9em; font-weight: normal; line-height: 1.4; }
.cqa-example:hover { border-color: var(--link-text-color, #2563eb); }
.cqa-upload-result, .cqa-url-result { width: 100%; border-collapse: collapse; font-size: .88em;
  table-layout: fixed; }
/* a long URL or reason wraps inside its column instead of running out of it */
.cqa-url-result th, .cqa-url-result td { text-align: left; padding: .25em .35em; vertical-align: top;
  border: none; border-bottom: 1px solid var(--border-color-primary); overflow-wrap: anywhere; }
.cqa-upload-result td, .cqa-upload-result th { overflow-wrap: anywhere; }
.cqa-url-result th:first-child, .cqa-upload-result th:first-child { width: 38%; }
.cqa-bad td:last-child { color: #b91c1c; }
.dark .cqa-bad td:last-child { color: #f87171; }
.cqa-head strong { font-size: 1.3em; margin-right: .4em; }
/* "Ask" and "New chat" on one line each, never wrapped inside the button */
#ask, #cqa-new-chat { white-space: nowrap; min-width: max-content !important; }
/* an empty chat takes little room: the example questions are in sight without scrolling */
#chat:not(:has(.message-row)) { height: 12em !important; min-height: 12em !important; }
@media (max-width: 600px) {
  .cqa-sources { font-size: .85em; }
  .cqa-docs .cqa-col-chunks { display: none; }
  /* the question box on a line of its own, so its placeholder is not cut; the buttons below */
  .form:has(#question) { flex: 1 1 100% !important; min-width: 100% !important; }
  #chat:not(:has(.message-row)) { height: 7em !important; min-height: 7em !important; }
}
"""

HEAD = """<script>
(() => {
  const send = (action) => {
    const box = document.querySelector('#cqa-action textarea, #cqa-action input');
    const go = document.querySelector('#cqa-action-go');
    if (!box || !go) return;
    box.value = action;
    box.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => go.click(), 0);
  };
  const named = (el, re) => {
    for (const c of el.classList) { const m = re.exec(c); if (m) return m.slice(1).join(':'); }
    return null;
  };
  const REF = /^cqa-ref-([0-9a-f]+)-(\\d+)-(\\d+)-(\\d+)-(\\d+)$/;
  const DOC = /^cqa-doc-([0-9a-f]+)$/;
  const copy = (text, el) => {
    const done = () => { const was = el.textContent; el.textContent = 'Copied'; setTimeout(() => el.textContent = was, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallback(text) && done());
    } else if (fallback(text)) done();
  };
  const fallback = (text) => {
    const area = document.createElement('textarea');
    area.value = text; area.style.position = 'fixed'; area.style.opacity = '0';
    document.body.appendChild(area); area.select();
    let ok = false; try { ok = document.execCommand('copy'); } catch (e) {}
    area.remove(); return ok;
  };
  const act = (ev) => {
    const t = ev.target;
    if (!t || !t.closest) return false;
    const cite = t.closest('.cqa-cite');
    if (cite) { const ref = named(cite, REF); if (ref) send('view:' + ref); return true; }
    const sup = t.closest('.cqa-answer sup');
    if (sup) {
      const n = parseInt(sup.textContent.replace(/\\D/g, ''), 10);
      const box = sup.closest('.cqa-answer').parentElement;
      const src = box && box.querySelector('.cqa-sources .cqa-n-' + n + ' .cqa-cite');
      const ref = src && named(src, REF);
      if (ref) send('view:' + ref);
      return true;
    }
    const more = t.closest('.cqa-more');
    if (more) { more.closest('.cqa-source').classList.toggle('cqa-open'); return true; }
    const cp = t.closest('.cqa-copy');
    if (cp) { const md = cp.parentElement.querySelector('.cqa-md'); if (md) copy(md.textContent, cp); return true; }
    const open = t.closest('.cqa-doc-open');
    if (open) { const id = named(open, DOC); if (id) send('doc:' + id); return true; }
    const rm = t.closest('.cqa-doc-remove');
    if (rm) { const id = named(rm, DOC); if (id) send('remove:' + id); return true; }
    const view = t.closest('.cqa-sort, .cqa-page');
    if (view) { const v = named(view, VIEW); if (v && !view.disabled) push('#cqa-docview', '#cqa-docview-go', v); return true; }
    const ex = t.closest('.cqa-example');
    if (ex) { push('#question', '#ask', ex.textContent); return true; }
    return false;
  };
  // write `value` into the textbox `box` and click `button` (a Gradio event, no reload)
  const push = (box, button, value) => {
    const field = document.querySelector(box + ' textarea, ' + box + ' input');
    const go = document.querySelector(button);
    if (!field || !go) return;
    field.value = value;
    field.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => go.click(), 0);
  };
  const VIEW = /^cqa-view-((?:title|outlet|date|source)-(?:asc|desc)-\d+)$/;
  // a new reply: bring its top (the question and the answer text) into view; Gradio's own
  // autoscroll (off) would show its bottom, the last source
  let replies = 0;
  const follow = () => {
    const all = document.querySelectorAll('#chat .cqa-answer, #chat .cqa-error');
    const grew = all.length > replies;
    replies = all.length;
    if (!grew) return;
    const reply = all[all.length - 1];
    let box = reply.parentElement;
    while (box && !(box.scrollHeight > box.clientHeight + 1 && ['auto', 'scroll'].includes(getComputedStyle(box).overflowY)))
      box = box.parentElement;
    if (!box) return;
    const row = reply.closest('.message-row') || reply;
    const asked = row.previousElementSibling;
    const both = asked ? row.getBoundingClientRect().bottom - asked.getBoundingClientRect().top : Infinity;
    const top = asked && both <= box.clientHeight ? asked : row;  // the question too, when all of it fits
    box.scrollTop += top.getBoundingClientRect().top - box.getBoundingClientRect().top;
  };
  // a chat message's aria-label is Gradio's "bot's message: " + its content, which here is
  // HTML: a screen reader would read the tags. Label it with the text a reader sees instead.
  const MESSAGE = /^(bot's message|user's message): /;
  const labels = () => {
    for (const el of document.querySelectorAll('#chat [aria-label]')) {
      const label = el.getAttribute('aria-label');
      const m = MESSAGE.exec(label);
      if (!m || !/[<&]/.test(label)) continue;
      const text = el.innerText.replace(/\s+/g, ' ').trim();
      el.setAttribute('aria-label', m[1] + ': ' + text);
    }
  };
  new MutationObserver(() => requestAnimationFrame(() => { follow(); labels(); })).observe(
    document.documentElement, {childList: true, subtree: true, attributes: true, attributeFilter: ['aria-label']});
  document.addEventListener('click', act);
  document.addEventListener('keydown', (ev) => {
    if ((ev.key === 'Enter' || ev.key === ' ') && ev.target.matches &&
        ev.target.matches('.cqa-cite, .cqa-more, .cqa-copy') && act(ev)) ev.preventDefault();
  });
})();
</script>"""

# gr.HTML(js_on_load=...): after the viewer's value changes, bring the cited passage into view
VIEWER_JS = """
const scroller = (el) => {
  for (let e = el.parentElement; e; e = e.parentElement) {
    const y = getComputedStyle(e).overflowY;
    if ((y === 'auto' || y === 'scroll') && e.scrollHeight > e.clientHeight + 1) return e;
  }
  return null;
};
const show = (tries) => {
  const mark = element.querySelector('mark.cqa-span');
  const top = element.querySelector('.cqa-article');
  if (!top) return;
  if (!top.offsetParent && tries > 0) { setTimeout(() => show(tries - 1), 60); return; }
  // a narrow screen stacks the viewer under the chat: bring it into sight first
  const block = element.closest('#cqa-viewer') || element;
  const r = block.getBoundingClientRect();
  if (r.top < 0 || r.top > window.innerHeight * 0.5) block.scrollIntoView({block: 'start'});
  const box = scroller(top);
  if (box) box.scrollTop = mark ? box.scrollTop + mark.getBoundingClientRect().top - box.getBoundingClientRect().top
                                 - box.clientHeight / 4 : 0;
};
watch('value', () => requestAnimationFrame(() => show(20)));
"""
