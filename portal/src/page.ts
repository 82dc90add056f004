/** What both pages share: start-up (configuration, sign-in, header) and accessible form helpers. */
import { Api } from './api.js';
import { startAuth, type Auth, type SignedInUser } from './auth.js';
import { loadConfig, type PortalConfig } from './config.js';
import {
  explainProblem,
  policyChecks,
  type Explained,
  type Policy,
  type Problem,
  type ProblemContext,
} from './messages.js';

export interface PageContext {
  config: PortalConfig;
  auth: Auth;
  api: Api;
  user: SignedInUser;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** Loads the configuration, signs in (or offers to), fills the header, then runs the page. */
export async function startPage(run: (context: PageContext) => Promise<void>): Promise<void> {
  try {
    const config = await loadConfig();
    const auth = await startAuth(config);
    const user = auth.user;
    if (!user) {
      byId('signed-out').hidden = false;
      byId('sign-in').addEventListener('click', () => void auth.signIn());
      return;
    }
    byId('who').textContent = `${user.name} (${user.username})`;
    byId('account').hidden = false;
    byId('sign-out').addEventListener('click', () => void auth.signOut());
    byId('signed-in').hidden = false;
    await run({ config, auth, api: new Api(config.apiBaseUrl, auth), user });
  } catch (error) {
    const message = byId('page-error');
    message.textContent = `The portal could not start: ${error instanceof Error ? error.message : String(error)}`;
    message.hidden = false;
  }
}

/** Show/hide buttons of password fields (`button.toggle[aria-controls]`). */
export function setUpPasswordToggles(root: ParentNode = document): void {
  for (const button of root.querySelectorAll<HTMLButtonElement>('button.toggle[aria-controls]')) {
    const input = byId<HTMLInputElement>(button.getAttribute('aria-controls')!);
    const label = button.textContent ?? 'Show';
    const update = (shown: boolean) => {
      input.type = shown ? 'text' : 'password';
      button.setAttribute('aria-pressed', String(shown));
      button.textContent = shown ? label.replace('Show', 'Hide') : label;
    };
    button.addEventListener('click', () => update(input.type === 'password'));
    // A form that is submitted or reset hides its passwords again.
    input.form?.addEventListener('reset', () => update(false));
  }
}

/** Live checks of a new password against the directory's policy, under its field. */
export function watchPolicy(
  input: HTMLInputElement,
  list: HTMLElement,
  policy: () => Policy | undefined,
): () => void {
  const render = () => {
    const current = policy();
    list.replaceChildren();
    list.hidden = !current;
    if (!current) return;
    for (const check of policyChecks(input.value, current)) {
      const item = document.createElement('li');
      // Nothing typed yet: the rules are shown as rules, not as failures.
      const state = check.met === undefined || !input.value ? 'info' : check.met ? 'met' : 'unmet';
      item.className = state;
      const mark = document.createElement('span');
      mark.setAttribute('aria-hidden', 'true');
      mark.textContent = state === 'met' ? '✓' : state === 'unmet' ? '✗' : '•';
      const hint = document.createElement('span');
      hint.className = 'visually-hidden';
      hint.textContent = state === 'met' ? 'Done: ' : state === 'unmet' ? 'Not yet: ' : 'Rule: ';
      item.append(mark, hint, ` ${check.text}`);
      list.append(item);
    }
  };
  input.addEventListener('input', render);
  input.form?.addEventListener('reset', () => queueMicrotask(render));
  render();
  return render;
}

/** Clears every field's error of a form. */
export function clearErrors(form: HTMLFormElement): void {
  for (const input of form.querySelectorAll<HTMLInputElement>('input[aria-invalid]')) {
    input.removeAttribute('aria-invalid');
    const error = document.getElementById(`${input.id}-error`);
    if (error) {
      error.textContent = '';
      error.hidden = true;
    }
  }
}

/** Ties a message to a field: its error text (aria-describedby) and aria-invalid; focus moves there. */
export function fieldError(input: HTMLInputElement, text: string): void {
  input.setAttribute('aria-invalid', 'true');
  const error = byId(`${input.id}-error`);
  error.textContent = text;
  error.hidden = false;
}

/** The page's answer region (role=status or alert, aria-live): the outcome in words. */
export function announce(region: HTMLElement, text: string, kind: 'success' | 'error' | 'progress'): void {
  region.className = `result ${kind}`;
  region.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  region.textContent = text;
  region.hidden = false;
}

/** A problem explained, shown in the answer region and, when it is about a field, at the field. */
export function showProblem(
  region: HTMLElement,
  problem: Problem,
  context: ProblemContext,
  fields: Partial<Record<NonNullable<Explained['field']>, HTMLInputElement>>,
): Explained {
  const explained = explainProblem(problem, context);
  announce(region, explained.text, 'error');
  const input = explained.field ? fields[explained.field] : undefined;
  if (input) {
    fieldError(input, explained.text);
    input.focus();
  }
  return explained;
}

/** Disables a form's controls while a request runs. */
export function busy(form: HTMLFormElement, on: boolean): void {
  form.setAttribute('aria-busy', String(on));
  for (const control of form.querySelectorAll<HTMLButtonElement | HTMLInputElement>('button, input')) {
    control.disabled = on;
  }
}
