/**
 * The caller's rhythm as a channel worker learns it: the smoothed gap between
 * an answer and the next request, which sets how long the worker spins.
 *
 * @module
 */

/**
 * A gap longer than this is an idle period, not the caller's rhythm: it does
 * not move the learned gap, so the spin after an idle period starts from what
 * was learned before it (a burst after a pause settles at once instead of
 * re-learning its rhythm over tens of sampled calls).
 */
export const IDLE_GAP_MS = 2;

/** The smoothed gap between an answer and the next request, in ms. */
export class LearnedGap {
  /** The learned gap, in ms. */
  ms = 0.05;

  /**
   * Takes one sample. Gaps over {@linkcode IDLE_GAP_MS} are idle periods and
   * are not learned.
   *
   * @param gapMs The time from an answer to the next request, in ms.
   */
  observe(gapMs: number): void {
    if (gapMs <= IDLE_GAP_MS) this.ms = this.ms * 0.7 + gapMs * 0.3;
  }
}
