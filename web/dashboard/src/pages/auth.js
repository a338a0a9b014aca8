// Sign-up and log-in. Errors show under the field the server names (or at the form's top).
import { api } from '../api.js';
import { h, field, showFormError, clearFormErrors } from '../dom.js';

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// The server's rules, checked here first so the person sees them at once; the server checks again.
function check(values, signup) {
  if (signup && (values.company.trim().length < 2 || values.company.trim().length > 80))
    return { field: 'company', message: 'company: must be 2-80 characters' };
  if (!EMAIL_RE.test(values.email) || values.email.length > 254)
    return { field: 'email', message: 'email: enter a valid e-mail address (at most 254 characters)' };
  if (signup && (values.password.length < 10 || values.password.length > 200))
    return { field: 'password', message: 'password: must be 10-200 characters' };
  if (!signup && !values.password) return { field: 'password', message: 'password: required' };
  return null;
}

function authCard(title, subtitle, form, footer) {
  return h('div', { class: 'auth-card' },
    h('div', { class: 'brand auth-brand' }, h('span', { class: 'logo-mark', text: 'd' }), h('span', { class: 'brand-name', text: 'dcall' })),
    h('h1', { text: title }),
    h('p', { class: 'muted', text: subtitle }),
    form,
    h('p', { class: 'auth-footer' }, footer));
}

function authForm({ signup, onDone }) {
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true, maxlength: '254' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: signup ? 'new-password' : 'current-password', required: true, maxlength: '200' });
  const company = signup ? h('input', { name: 'company', type: 'text', autocomplete: 'organization', required: true, maxlength: '80' }) : null;
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: signup ? 'Create account' : 'Log in' });
  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'form-error', role: 'alert' }),
    signup ? field('Company name', company) : null,
    field('Work e-mail', email),
    field('Password', password, signup ? 'At least 10 characters.' : null),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormErrors(form);
    const values = { email: email.value.trim(), password: password.value };
    if (signup) values.company = company.value.trim();
    const bad = check(values, signup);
    if (bad) return showFormError(form, bad);
    submit.disabled = true;
    try {
      const res = await api('POST', signup ? '/v1/web/signup' : '/v1/web/login', values);
      await onDone(res);
    } catch (err) {
      if (err.code === 'invalid_credentials') err.field = null;
      showFormError(form, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function signup(ctx) {
  const form = authForm({
    signup: true,
    onDone: async (res) => {
      ctx.app.secret = { api_secret: res.api_secret, kid: res.kid || 'k1' };
      ctx.setSession(await api('GET', '/v1/web/me').catch(() => res));
      ctx.navigate('/integration', { replace: true });
    },
  });
  return { el: authCard('Create your dcall account', 'In-app voice calls for your app, in minutes.', form,
    ['Already have an account? ', h('a', { href: '/login', dataset: { link: '' }, text: 'Log in' })]) };
}

export function login(ctx) {
  const form = authForm({
    signup: false,
    onDone: async (res) => {
      ctx.app.secret = null;
      ctx.setSession(await api('GET', '/v1/web/me').catch(() => res));
      ctx.navigate('/stats', { replace: true });
    },
  });
  return { el: authCard('Log in to dcall', 'Welcome back.', form,
    ['New to dcall? ', h('a', { href: '/signup', dataset: { link: '' }, text: 'Create an account' })]) };
}
