/**
 * The dashboard's entry: a hash router over four pages (jobs, a job, sequential vs PARL, the
 * fan-out policy) and the API key prompt. The key comes from `#key=…` (as `parl serve` prints the
 * address) or the form, and lives in sessionStorage only.
 */
import './main.css';
import { apiKey, forgetApiKey, setApiKey, takeKeyFromLocation } from './api';
import { h } from './format';
import type { Stop, View } from './view';
import { compareView } from './views/compare';
import { jobView } from './views/job';
import { jobsView } from './views/jobs';
import { policyView } from './views/policy';

const ROUTES: Record<string, View> = {
  jobs: jobsView,
  job: jobView,
  compare: compareView,
  policy: policyView,
};

function keyForm(root: HTMLElement): Stop {
  const input = h('input', { type: 'password', name: 'apiKey', placeholder: 'parl_t-…', size: '50' });
  const form = h(
    'form',
    { class: 'key-form' },
    h('p', {}, 'The API key of a tenant (npx parl tenants create …), or open the address parl serve prints.'),
    input,
    h('button', { type: 'submit' }, 'Use this key'),
  );
  form.onsubmit = (e) => {
    e.preventDefault();
    if (input.value.trim() === '') return;
    setApiKey(input.value);
    location.hash = '#/jobs';
    render();
  };
  root.append(form);
  return () => {};
}

let stop: Stop = () => {};

function render(): void {
  stop();
  const root = document.getElementById('view')!;
  root.replaceChildren();
  if (!apiKey()) {
    stop = keyForm(root);
    return;
  }
  const [path = '', query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  const name = parts[0] === 'jobs' && parts[1] ? 'job' : (parts[0] ?? 'jobs');
  const view = ROUTES[name] ?? jobsView;
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.getAttribute('href') === `#/${parts[0] ?? 'jobs'}`);
  }
  stop = view(root, new URLSearchParams(query), parts);
}

takeKeyFromLocation();
document.getElementById('forget')?.addEventListener('click', () => {
  forgetApiKey();
  render();
});
window.addEventListener('hashchange', render);
render();
