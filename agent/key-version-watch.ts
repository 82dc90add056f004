/**
 * Keeps the reply signer current across a key rollover without a Key Vault call per request.
 *
 * A rollover rotates `writeback-{t}-enc` and `writeback-{t}-sig` together, and the cloud accepts a
 * reply signed with a replaced `-sig` version only for a grace period. The first request sealed
 * under an `-enc` version this agent has not seen is the sign that a roll happened: it starts one
 * lookup of the latest `-sig` version (`signer.refresh()`), in the background, while the request is
 * opened and applied; a reply waits for that lookup only if it is still under way when the reply is
 * about to be signed, and at most `maxWaitMs`. One Key Vault call per new version; a version seen
 * again costs nothing. The first request after a start counts as new (one call).
 */
export interface KeyVersionWatchOptions {
  /** Looks the signing key's latest version up (the signer's `refresh()`). */
  refresh: () => Promise<unknown>;
  /** Told when a lookup fails (the signer keeps its version, and heals itself on a 403/404). */
  onError?: (error: unknown) => void;
  /** How long a reply waits at most for a lookup under way. Default 5 s. */
  maxWaitMs?: number;
  /** Versions remembered (then forgotten all at once). Default 64. */
  maxVersions?: number;
}

export class KeyVersionWatch {
  private readonly seen = new Set<string>();
  private pending: Promise<void> | undefined;

  constructor(private readonly options: KeyVersionWatchOptions) {}

  /** Notes the `-enc` version a request names; one not seen before starts a lookup. */
  saw(keyVersion: string): void {
    if (this.seen.has(keyVersion)) return;
    if (this.seen.size >= (this.options.maxVersions ?? 64)) this.seen.clear();
    this.seen.add(keyVersion);
    void this.refresh();
  }

  /** Looks the signing key up now (also what a rollover does). Never rejects. */
  refresh(): Promise<void> {
    const lookup: Promise<void> = this.options.refresh().then(
      () => undefined,
      (error: unknown) => this.options.onError?.(error),
    );
    this.pending = lookup;
    void lookup.finally(() => {
      if (this.pending === lookup) this.pending = undefined;
    });
    return lookup;
  }

  /** Resolves once no lookup is under way, or after `maxWaitMs`. Never rejects. */
  async settled(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      pending,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.maxWaitMs ?? 5000))),
    ]);
    clearTimeout(timer);
  }

  /** Whether a lookup is under way (for tests and health). */
  get looking(): boolean {
    return this.pending !== undefined;
  }
}
