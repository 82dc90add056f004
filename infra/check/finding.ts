/** What one rule found wrong in one place of the templates. */
export type RuleName =
  | 'parse'
  | 'required'
  | 'identity-connections'
  | 'output-secrets'
  | 'role-assignments'
  | 'app-settings'
  | 'api-versions';

export interface Finding {
  rule: RuleName;
  /** Relative to the infra folder. */
  file: string;
  line: number;
  message: string;
}
