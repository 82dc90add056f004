/**
 * The admin page (admin.html, role Writeback.Admin): reset or unlock another user, the tenant's
 * writeback status with enable/disable, and the recent audit trail. A generated temporary password is
 * shown once, in the page only: it is gone after a reload.
 */
import {
  describePolicy,
  explainProblem,
  successMessage,
  missingCharacterClasses,
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
import { ago, statusSentence, type WritebackStatus } from './status.js';

const ADMIN_ROLE = 'Writeback.Admin';
const AUDIT_TOP = 50;

interface Configuration {
  state: string;
  encryptionKeyId?: string;
  signatureKeyId?: string;
  enabledAt?: string;
  enabledBy?: { upn?: string; objectId: string };
  disabledAt?: string;
  keys?: {
    encryption: { keyId: string; createdAt?: string };
    signature: { keyId: string; createdAt?: string };
  };
}

interface AuditEntry {
  at: string;
  action: string;
  outcome: string;
  actor: { objectId: string; upn?: string };
  target: string;
  code?: string;
  reason?: string;
  flags?: string[];
  newVersion?: string;
}

const ACTIONS: Record<string, string> = {
  PasswordReset: 'Password reset',
  PasswordChange: 'Password change',
  AccountUnlock: 'Unlock',
  WritebackEnabled: 'Writeback enabled',
  WritebackDisabled: 'Writeback disabled',
  KeyRolledOver: 'Key rolled over',
};

const cell = (text: string) => Object.assign(document.createElement('td'), { textContent: text });

/** The version part of a key id, and its age. */
function keyLine(label: string, keyId: string | undefined, createdAt: string | undefined): string {
  if (!keyId) return `${label}: none`;
  const version = keyId.split('/').pop() ?? keyId;
  return `${label}: version ${version.slice(0, 12)}…, created ${createdAt ? ago(createdAt) : 'at an unknown time'}`;
}

void startPage(async ({ api, user }: PageContext) => {
  const tenant = encodeURIComponent(user.tenantId);
  const me = await api.call<{ roles: string[] }>('GET', `/tenants/${tenant}/me`);
  if (!me.ok || !me.body.roles.includes(ADMIN_ROLE)) {
    byId('not-admin').hidden = false;
    byId('admin-sections').hidden = true;
    return;
  }
  const result = byId('result');
  let policy: Policy | undefined;
  setUpPasswordToggles();

  // ---- writeback status, enable / disable ------------------------------------------------------
  const statusText = byId('wb-status');
  const toggle = byId<HTMLButtonElement>('wb-toggle');
  let enabled = false;
  const refreshStatus = async () => {
    const [status, configuration] = await Promise.all([
      api.call<WritebackStatus>('GET', `/tenants/${tenant}/writeback/status`),
      api.call<Configuration>('GET', `/tenants/${tenant}/writeback`),
    ]);
    if (!status.ok) {
      statusText.textContent = explainProblem(status.problem, { who: 'admin' }).text;
      return;
    }
    policy = status.body.policy ?? policy;
    statusText.className = `status ${status.body.state}`;
    statusText.textContent = statusSentence(status.body, 'admin');
    byId('wb-agents').replaceChildren(
      ...status.body.agents.map((agent) => {
        const row = document.createElement('tr');
        row.append(
          cell(agent.agentId),
          cell(agent.version),
          cell(agent.state),
          cell(ago(agent.lastHeartbeatAt)),
        );
        return row;
      }),
    );
    byId('wb-no-agents').hidden = status.body.agents.length > 0;
    const config = configuration.ok ? configuration.body : undefined;
    enabled = config?.state === 'enabled';
    const details = config
      ? [
          `State: ${config.state}`,
          keyLine(
            'Encryption key',
            config.keys?.encryption.keyId ?? config.encryptionKeyId,
            config.keys?.encryption.createdAt,
          ),
          keyLine(
            'Signature key',
            config.keys?.signature.keyId ?? config.signatureKeyId,
            config.keys?.signature.createdAt,
          ),
          ...(config.enabledAt
            ? [
                `Enabled ${ago(config.enabledAt)} by ${config.enabledBy?.upn ?? config.enabledBy?.objectId ?? 'unknown'}`,
              ]
            : []),
        ]
      : ['Writeback has never been enabled for this tenant.'];
    if (policy) details.push(`Directory policy: ${describePolicy(policy).join(' ')}`);
    byId('wb-details').replaceChildren(
      ...details.map((line) => Object.assign(document.createElement('li'), { textContent: line })),
    );
    toggle.textContent = enabled ? 'Disable writeback…' : 'Enable writeback…';
    toggle.hidden = false;
  };

  const dialog = byId<HTMLDialogElement>('wb-confirm');
  toggle.addEventListener('click', () => {
    byId('wb-confirm-text').textContent = enabled
      ? `Disable password writeback for ${user.tenantId}? Users can no longer reset, change or unlock their passwords, ` +
        "and the agent's credentials stop working; enabling again issues new ones."
      : `Enable password writeback for ${user.tenantId}? New agent credentials are issued and shown once.`;
    byId('wb-confirm-yes').textContent = enabled ? 'Disable writeback' : 'Enable writeback';
    dialog.showModal();
  });
  byId('wb-confirm-no').addEventListener('click', () => dialog.close());
  byId('wb-confirm-yes').addEventListener('click', () => {
    dialog.close();
    void (async () => {
      announce(result, enabled ? 'Disabling writeback…' : 'Enabling writeback…', 'progress');
      const answer = await api.call<{ agentConnectionStrings?: { listen: string; send: string } }>(
        enabled ? 'DELETE' : 'PUT',
        `/tenants/${tenant}/writeback`,
      );
      if (!answer.ok) {
        showProblem(
          result,
          answer.problem,
          {
            who: 'admin',
            ...(answer.retryAfterSeconds ? { retryAfterSeconds: answer.retryAfterSeconds } : {}),
          },
          {},
        );
      } else {
        announce(result, enabled ? 'Writeback is disabled.' : 'Writeback is enabled.', 'success');
        const secrets = answer.body.agentConnectionStrings;
        if (secrets) {
          byId<HTMLTextAreaElement>('wb-listen').value = secrets.listen;
          byId<HTMLTextAreaElement>('wb-send').value = secrets.send;
          byId('wb-secrets').hidden = false;
        }
      }
      await refreshStatus();
    })();
  });
  byId('wb-secrets-done').addEventListener('click', () => {
    byId<HTMLTextAreaElement>('wb-listen').value = '';
    byId<HTMLTextAreaElement>('wb-send').value = '';
    byId('wb-secrets').hidden = true;
  });

  // ---- reset and unlock another user ----------------------------------------------------------
  const resetForm = byId<HTMLFormElement>('admin-reset');
  const resetUpn = byId<HTMLInputElement>('reset-upn');
  const typed = byId<HTMLInputElement>('reset-typed');
  const typedField = byId('reset-password-field');
  const password = byId<HTMLInputElement>('reset-password');
  const recheck = watchPolicy(password, byId('reset-password-checks'), () => policy);
  const showTyped = () => {
    typedField.hidden = !typed.checked;
    password.required = typed.checked;
  };
  for (const radio of resetForm.querySelectorAll('input[name="mode"]'))
    radio.addEventListener('change', showTyped);
  resetForm.addEventListener('reset', () => queueMicrotask(showTyped));

  const temp = byId('temp');
  const hideTemporary = () => {
    byId('temp-password').textContent = '';
    temp.hidden = true;
  };
  byId('temp-done').addEventListener('click', hideTemporary);
  byId('temp-copy').addEventListener('click', () => {
    void navigator.clipboard.writeText(byId('temp-password').textContent ?? '').then(
      () => announce(byId('temp-copied'), 'Copied to the clipboard.', 'success'),
      () =>
        announce(byId('temp-copied'), 'Copying failed: select the password and copy it by hand.', 'error'),
    );
  });

  resetForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      clearErrors(resetForm);
      hideTemporary();
      const upn = resetUpn.value.trim();
      if (!/^[^@\s]+@[^@\s]+$/.test(upn))
        return (fieldError(resetUpn, 'Type the user name, such as bob@contoso.test.'), resetUpn.focus());
      if (typed.checked && !password.value)
        return (fieldError(password, 'Type the new password, or choose to generate one.'), password.focus());
      const body = {
        ...(typed.checked ? { newPassword: password.value } : {}),
        forceChangeAtNextLogon: byId<HTMLInputElement>('reset-force').checked,
        unlock: byId<HTMLInputElement>('reset-unlock').checked,
      };
      const missing = typed.checked ? missingCharacterClasses(password.value) : [];
      password.value = '';
      recheck();
      busy(resetForm, true);
      announce(result, `Resetting the password of ${upn}…`, 'progress');
      const answer = await api.operation(
        user.tenantId,
        `/tenants/${tenant}/users/${encodeURIComponent(upn)}/password/reset`,
        body,
        () =>
          announce(result, 'The directory is taking longer than usual. Waiting for its answer…', 'progress'),
      );
      busy(resetForm, false);
      showTyped();
      if (answer.ok) {
        announce(result, successMessage('reset', 'admin', upn), 'success');
        if (answer.body.temporaryPassword) {
          byId('temp-user').textContent = upn;
          byId('temp-password').textContent = answer.body.temporaryPassword;
          byId('temp-copied').hidden = true;
          temp.hidden = false;
          byId('temp-copy').focus();
        }
      } else {
        showProblem(
          result,
          answer.problem,
          {
            who: 'admin',
            policy,
            missing,
            ...(answer.retryAfterSeconds ? { retryAfterSeconds: answer.retryAfterSeconds } : {}),
          },
          { upn: resetUpn, newPassword: password },
        );
      }
      void refreshAudit();
    })();
  });

  const unlockForm = byId<HTMLFormElement>('admin-unlock');
  const unlockUpn = byId<HTMLInputElement>('unlock-upn');
  unlockForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      clearErrors(unlockForm);
      const upn = unlockUpn.value.trim();
      if (!/^[^@\s]+@[^@\s]+$/.test(upn))
        return (fieldError(unlockUpn, 'Type the user name, such as bob@contoso.test.'), unlockUpn.focus());
      busy(unlockForm, true);
      announce(result, `Unlocking ${upn}…`, 'progress');
      const answer = await api.operation(
        user.tenantId,
        `/tenants/${tenant}/users/${encodeURIComponent(upn)}/unlock`,
        undefined,
        () =>
          announce(result, 'The directory is taking longer than usual. Waiting for its answer…', 'progress'),
      );
      busy(unlockForm, false);
      if (answer.ok) announce(result, successMessage('unlock', 'admin', upn), 'success');
      else
        showProblem(
          result,
          answer.problem,
          {
            who: 'admin',
            ...(answer.retryAfterSeconds ? { retryAfterSeconds: answer.retryAfterSeconds } : {}),
          },
          { upn: unlockUpn },
        );
      void refreshAudit();
    })();
  });

  // ---- audit trail ------------------------------------------------------------------------------
  const auditBody = byId('audit-rows');
  const auditNote = byId('audit-note');
  const refreshAudit = async () => {
    const answer = await api.call<{ entries: AuditEntry[]; from: string }>(
      'GET',
      `/tenants/${tenant}/audit?top=${AUDIT_TOP}`,
    );
    if (!answer.ok) {
      auditNote.textContent = explainProblem(answer.problem, { who: 'admin' }).text;
      return;
    }
    auditBody.replaceChildren(
      ...answer.body.entries.map((entry) => {
        const row = document.createElement('tr');
        const outcome =
          entry.outcome === 'succeeded'
            ? 'Succeeded'
            : `${entry.outcome[0]?.toUpperCase()}${entry.outcome.slice(1)}${entry.code ? `: ${entry.code}${entry.reason ? ` (${entry.reason})` : ''}` : ''}`;
        const time = document.createElement('time');
        time.dateTime = entry.at;
        time.textContent = new Date(entry.at).toLocaleString();
        const when = document.createElement('td');
        when.append(time);
        row.append(
          when,
          cell(entry.actor.upn ?? entry.actor.objectId),
          cell(
            `${ACTIONS[entry.action] ?? entry.action}${entry.flags?.length ? ` (${entry.flags.join(', ')})` : ''}`,
          ),
          cell(entry.target.replace(/^upn:/, '')),
          cell(outcome),
        );
        return row;
      }),
    );
    auditNote.textContent = answer.body.entries.length
      ? `The ${answer.body.entries.length} most recent entries, newest first.`
      : 'No activity in the last 90 days.';
  };
  byId('audit-refresh').addEventListener('click', () => void refreshAudit());

  await Promise.all([refreshStatus(), refreshAudit()]);
});
