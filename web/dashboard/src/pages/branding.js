// Branding: the logo (Content tab) and colours and button theme (Style tab) of the call screens,
// with a live preview of the incoming and ongoing screens on Android, iOS and the Web. Done saves
// (PUT /v1/branding) and dcalld pushes the new branding to every connected app at once.
import { get, put } from '../api.js';
import { h, clear, icon, field, showFormError, clearFormErrors, toast, debounce } from '../dom.js';
import { pageHeader, card, tabs } from '../widgets.js';

const HEX_RE = /^#[0-9A-Fa-f]{6}$/;
const URL_RE = /^https?:\/\/[^\s/$.?#][^\s]*$/i;

// The logo URL with a thumbnail, checked by loading it. st.logo: none | loading | ok | error | invalid.
function logoEditor(form, draft, st, changed) {
  const input = h('input', { name: 'logo_url', type: 'url', placeholder: 'https://cdn.example.com/logo.png', value: draft.logo_url || '', maxlength: '2048' });
  const thumb = h('div', { class: 'logo-thumb', dataset: { testid: 'logo-thumb' } });
  const status = h('div', { class: 'logo-status', dataset: { testid: 'logo-status' } });
  const remove = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Remove logo', onclick: () => { input.value = ''; check(); } });
  const probe = new Image();
  probe.onload = () => set('ok');
  probe.onerror = () => set('error');
  function set(s) {
    st.logo = s;
    remove.hidden = s === 'none';
    status.className = `logo-status ${s}`;
    clear(thumb);
    if (s === 'ok') {
      thumb.append(h('img', { src: draft.logo_url, alt: 'Logo preview' }));
      status.textContent = 'The logo loads.';
      clearFormErrors(form);
    } else if (s === 'error') {
      thumb.append(h('span', { class: 'muted', text: 'No image' }));
      status.textContent = '';
      showFormError(form, { field: 'logo_url', message: 'logo_url: the image did not load from this URL. Check that it is public, reachable over http(s) and points to an image (PNG, JPEG, SVG or WebP).' });
    } else if (s === 'loading') {
      status.textContent = 'Loading the image…';
    } else {
      thumb.append(h('span', { class: 'muted', text: s === 'invalid' ? 'No image' : 'No logo' }));
      status.textContent = s === 'invalid' ? '' : 'No logo: the call screens show your company initial.';
    }
    changed();
  }
  const check = debounce(() => {
    const url = input.value.trim();
    clearFormErrors(form);
    draft.logo_url = url || null;
    if (!url) return set('none');
    if (!URL_RE.test(url) || url.length > 2048) {
      set('invalid');
      return showFormError(form, { field: 'logo_url', message: 'logo_url: must be an http(s) URL of at most 2048 characters' });
    }
    set('loading');
    probe.src = url;
  }, 300);
  input.addEventListener('input', check);
  if (draft.logo_url) probe.src = draft.logo_url;
  set(draft.logo_url ? 'loading' : 'none');
  return {
    render: () => h('div', { class: 'tab-body' },
      field('Brand logo image URL', input, 'Shown on the incoming and ongoing call screens. A square image of at least 96×96 px works best.'),
      h('div', { class: 'logo-row' }, thumb, status, remove)),
    destroy() {
      probe.onload = probe.onerror = null;
      check.cancel();
    },
  };
}

// Background and text colours (picker + #RRGGBB text) and the button theme.
function styleEditor(form, draft, changed) {
  function colourField(name, label) {
    const picker = h('input', { type: 'color', 'aria-label': `${label} picker`, value: draft[name] });
    const text = h('input', { name, type: 'text', value: draft[name], maxlength: '7', class: 'mono hex' });
    const set = () => {
      clearFormErrors(form);
      draft[name] = text.value.trim();
      if (!HEX_RE.test(draft[name])) showFormError(form, { field: name, message: `${name}: must be a colour as #RRGGBB` });
      changed();
    };
    picker.addEventListener('input', () => { text.value = picker.value.toUpperCase(); set(); });
    text.addEventListener('input', () => { if (HEX_RE.test(text.value)) picker.value = text.value; set(); });
    const f = field(label, text);
    f.querySelector('label').after(h('div', { class: 'colour-row' }, picker, text));
    return f;
  }
  const theme = (t, label) => h('label', { class: 'radio-card' },
    h('input', { type: 'radio', name: 'button_theme', value: t, checked: draft.button_theme === t, onchange: () => { draft.button_theme = t; changed(); } }),
    h('span', { class: `theme-sample theme-${t}` }, h('i', { class: 'decline' }), h('i', { class: 'accept' })),
    h('span', { text: label }));
  return () => h('div', { class: 'tab-body' },
    colourField('background_color', 'Background colour'),
    colourField('text_color', 'Text colour'),
    h('fieldset', { class: 'field' }, h('legend', { text: 'Button theme' }), h('div', { class: 'radio-row' }, theme('default', 'Default'), theme('white', 'White')),
      h('div', { class: 'field-error', dataset: { errorFor: 'button_theme' } })));
}

// The incoming and ongoing screens as the SDKs draw them, on the chosen platform.
function preview(draft, st, company) {
  let platform = 'android';
  const box = h('div', { class: 'previews' });
  const bar = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Platform' },
    [['android', 'Android'], ['ios', 'iOS'], ['web', 'Web']].map(([id, label]) =>
      h('button', { type: 'button', dataset: { platform: id }, class: id === platform ? 'active' : null, text: label, onclick: () => pick(id) })));
  function pick(id) {
    platform = id;
    bar.querySelectorAll('button').forEach((b) => b.classList.toggle('active', b.dataset.platform === id));
    draw();
  }
  const logo = () => (draft.logo_url && st.logo === 'ok'
    ? h('img', { class: 'pv-logo', src: draft.logo_url, alt: '' })
    : h('div', { class: 'pv-logo pv-initial', text: company.trim().charAt(0).toUpperCase() || 'D' }));
  const btn = (kind, iconName, label) => h('div', { class: 'pv-btn-wrap' },
    h('span', { class: `pv-btn pv-${kind}` }, icon(iconName)), h('span', { class: 'pv-btn-label', text: label }));
  function screen(kind) {
    const s = h('div', { class: `pv-screen theme-${draft.button_theme}`, dataset: { testid: `preview-${kind}` },
      style: { backgroundColor: HEX_RE.test(draft.background_color) ? draft.background_color : '#FFFFFF', color: HEX_RE.test(draft.text_color) ? draft.text_color : '#000000' } });
    const top = h('div', { class: 'pv-top' }, logo(), h('div', { class: 'pv-company', text: company }));
    if (kind === 'incoming') {
      s.append(top,
        h('div', { class: 'pv-mid' }, h('div', { class: 'pv-label', text: 'Incoming voice call' }), h('div', { class: 'pv-name', text: 'Asha' }),
          h('div', { class: 'pv-context', dataset: { testid: 'preview-context' }, text: 'Your driver for ride #4821' })),
        h('div', { class: 'pv-actions' }, btn('decline', 'phone', 'Decline'), btn('accept', 'phone', 'Accept')));
    } else {
      s.append(top,
        h('div', { class: 'pv-mid' }, h('div', { class: 'pv-name', text: 'Asha' }), h('div', { class: 'pv-timer', text: '02:41' }),
          h('div', { class: 'pv-context', text: 'Your driver for ride #4821' })),
        h('div', { class: 'pv-controls' }, btn('ctl', 'mic', 'Mute'), btn('ctl', 'keypad', 'Keypad'), btn('ctl', 'speaker', 'Speaker')),
        h('div', { class: 'pv-actions single' }, btn('decline', 'phone', 'End')));
    }
    return s;
  }
  function device(kind, title) {
    const chrome = platform === 'web'
      ? h('div', { class: 'pv-browserbar' }, h('i'), h('i'), h('i'), h('span', { text: 'yourapp.example.com' }))
      : h('div', { class: 'pv-statusbar' }, h('span', { text: '9:41' }), h('span', { class: 'pv-notch' }), h('span', { class: 'pv-signal' }));
    return h('figure', { class: 'pv-figure' }, h('div', { class: `device device-${platform}` }, chrome, screen(kind)), h('figcaption', { text: title }));
  }
  function draw() {
    clear(box).append(device('incoming', 'Incoming call'), device('ongoing', 'Ongoing call'));
  }
  return { el: card(null, h('div', { class: 'preview-head' }, h('h2', { class: 'card-title', text: 'Live preview' }), bar), box), draw };
}

export async function render(ctx) {
  const saved = await get('/v1/branding');
  const draft = { ...saved };
  const st = { logo: 'none' };
  const form = h('form', { class: 'form', novalidate: true }, h('div', { class: 'form-error', role: 'alert' }));
  let pv = null;
  const changed = () => pv?.draw();
  const logo = logoEditor(form, draft, st, changed);
  const editor = tabs([
    { id: 'content', label: 'Content', render: logo.render },
    { id: 'style', label: 'Style', render: styleEditor(form, draft, changed) },
  ], { label: 'Branding editor' });
  form.append(editor.el);
  pv = preview(draft, st, ctx.app.me.company || 'Your company');
  pv.draw();

  // What blocks saving, as {tab, field, message}; null when the draft can be saved.
  function problem() {
    for (const k of ['background_color', 'text_color']) {
      if (!HEX_RE.test(draft[k])) return { tab: 'style', field: k, message: `${k}: must be a colour as #RRGGBB` };
    }
    if (!draft.logo_url || st.logo === 'ok') return null;
    const message = st.logo === 'loading' ? 'logo_url: the image is still loading; try again in a moment'
      : st.logo === 'invalid' ? 'logo_url: must be an http(s) URL of at most 2048 characters'
        : 'logo_url: the image did not load from this URL; fix it or remove the logo before saving';
    return { tab: 'content', field: 'logo_url', message };
  }
  const done = h('button', { type: 'button', class: 'btn btn-primary', text: 'Done', dataset: { testid: 'branding-done' } });
  done.addEventListener('click', async () => {
    clearFormErrors(form);
    const bad = problem();
    if (bad) {
      editor.select(bad.tab);
      return showFormError(form, bad);
    }
    done.disabled = true;
    try {
      const body = { logo_url: draft.logo_url || null, background_color: draft.background_color.toUpperCase(), text_color: draft.text_color.toUpperCase(), button_theme: draft.button_theme };
      Object.assign(saved, await put('/v1/branding', body));
      toast('Branding saved: connected apps show it now');
    } catch (e) {
      editor.select(['background_color', 'text_color', 'button_theme'].includes(e.field) ? 'style' : 'content');
      showFormError(form, e);
    } finally {
      done.disabled = false;
    }
  });
  const discard = h('button', { type: 'button', class: 'btn btn-ghost', text: 'Discard changes', onclick: () => ctx.navigate('/branding', { replace: true }) });

  return {
    el: h('div', { class: 'page page-branding' },
      pageHeader('Branding', 'How your calls look in your apps: people pick up calls they recognise.', discard, done),
      h('div', { class: 'branding-grid' }, card('Call screen', form), pv.el)),
    destroy: () => logo.destroy(),
  };
}
