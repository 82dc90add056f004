/**
 * The self-service page (index.html): the writeback status and the directory's rules first, then reset,
 * change and unlock of the signed-in user's own password. A password lives in a local variable for one
 * request: the fields are cleared as it is sent, and nothing is stored.
 */
import {
  successMessage,
  describePolicy,
  missingCharacterClasses,
  type OperationKind,
  type Policy,
} from './messages.js';
import {
  announce,
  busy,
  byId,
  clearErrors,
  fieldError,
  setUpPasswordToggles,
  showProblem,
  startPage,
  watchPolicy,
  type PageContext,
} from './page.js';
import { statusSentence, type WritebackStatus } from './status.js';

const STATUS_REFRESH_MS = 15_000;

void startPage(async ({ api, user }: PageContext) => {
  const tenant = encodeURIComponent(user.tenantId);
  const result = byId('result');
  const forms = [...document.querySelectorAll<HTMLFormElement>('form[data-operation]')];
  let policy: Policy | undefined;
  let online = false;
  const rechecks: (() => void)[] = [];

  const allowSubmit = () => {
    for (const form of forms) {
      if (form.getAttribute('aria-busy') === 'true') continue;
      const submit = form.querySelector<HTMLButtonElement>('button[type="submit"]')!;
      submit.disabled = !online;
    }
  };

  const statusRegion = byId('status');
  const refreshStatus = async () => {
    const answer = await api.call<WritebackStatus>('GET', `/tenants/${tenant}/writeback/status`);
    statusRegion.removeAttribute('aria-busy');
    if (!answer.ok) {
      statusRegion.className = 'status offline';
      statusRegion.textContent =
        'The status of password writeback could not be read. Try reloading the page.';
      online = false;
    } else {
      const status = answer.body;
      online = status.state === 'online';
      policy = status.policy ?? policy;
      statusRegion.className = `status ${status.state}`;
      statusRegion.textContent = statusSentence(status, 'self');
    }
    const rules = byId('policy');
    rules.hidden = !policy;
    if (policy)
      byId('policy-list').replaceChildren(
        ...describePolicy(policy).map((rule) =>
          Object.assign(document.createElement('li'), { textContent: rule }),
        ),
      );
    for (const recheck of rechecks) recheck();
    allowSubmit();
  };

  setUpPasswordToggles();
  for (const input of document.querySelectorAll<HTMLInputElement>('input[data-policy-checks]')) {
    rechecks.push(watchPolicy(input, byId(input.dataset.policyChecks!), () => policy));
  }

  for (const form of forms) {
    const kind = form.dataset.operation as OperationKind;
    const field = (name: string) =>
      form.querySelector<HTMLInputElement>(`input[name="${name}"]`) ?? undefined;
    const current = field('currentPassword');
    const next = field('newPassword');
    const confirm = field('confirmPassword');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void (async () => {
        clearErrors(form);
        if (next && !next.value) return (fieldError(next, 'Type a new password.'), next.focus());
        if (current && !current.value)
          return (fieldError(current, 'Type your current password.'), current.focus());
        if (next && confirm && next.value !== confirm.value) {
          confirm.value = '';
          fieldError(confirm, 'The two new passwords are not the same. Type the new password again.');
          return confirm.focus();
        }
        const body =
          kind === 'unlock'
            ? undefined
            : { ...(current ? { currentPassword: current.value } : {}), newPassword: next!.value };
        // Kept for the complexity message only: which kinds of character were missing, not the password.
        const missing = next ? missingCharacterClasses(next.value) : [];
        form.reset(); // the fields are cleared as the request leaves
        busy(form, true);
        announce(result, 'Sending your request to the on-premises directory…', 'progress');
        const path = kind === 'unlock' ? 'me/unlock' : `me/password/${kind}`;
        const answer = await api.operation(user.tenantId, `/tenants/${tenant}/${path}`, body, () =>
          announce(result, 'The directory is taking longer than usual. Waiting for its answer…', 'progress'),
        );
        busy(form, false);
        if (answer.ok) {
          announce(result, successMessage(kind, 'self'), 'success');
          result.focus();
        } else {
          showProblem(
            result,
            answer.problem,
            {
              who: 'self',
              policy,
              missing,
              ...(answer.retryAfterSeconds ? { retryAfterSeconds: answer.retryAfterSeconds } : {}),
            },
            { ...(next ? { newPassword: next } : {}), ...(current ? { currentPassword: current } : {}) },
          );
          if (answer.problem.code === 'WritebackOffline' || answer.problem.code === 'WritebackDisabled')
            await refreshStatus();
        }
        allowSubmit();
      })();
    });
  }

  await refreshStatus();
  setInterval(() => void refreshStatus(), STATUS_REFRESH_MS);
});
