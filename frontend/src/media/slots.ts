// Which source each video slot of the WHEP subscription shows. Pure, so the decisions that
// make panels flicker (or not) are unit-tested without WebRTC.

/** The source of each video slot, in m-line order; `null`: the slot shows nothing. */
export type Slots = (string | null)[];

/** Slots of a first subscription: room for a few panels without renegotiating. */
export const MIN_SLOTS = 4;
/** The server's limit per subscription (`too_many_slots` past it). */
export const MAX_SLOTS = 16;

/** The wanted sources without duplicates or blanks, in the order given, at most `MAX_SLOTS`. */
export function uniqueWanted(wanted: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of wanted) {
    if (s && !out.includes(s)) out.push(s);
  }
  return out.slice(0, MAX_SLOTS);
}

/** Wanted sources beyond what one subscription can carry (shown to the person as a problem). */
export function overflowOf(wanted: readonly string[]): string[] {
  const seen: string[] = [];
  for (const s of wanted) if (s && !seen.includes(s)) seen.push(s);
  return seen.slice(MAX_SLOTS);
}

/**
 * The slots of a new subscription: the wanted sources first (WHEP's `?slots=` cannot express a
 * gap), then empty slots, `count` in all (at least `MIN_SLOTS` and the wanted count, at most
 * `MAX_SLOTS`).
 */
export function initialSlots(wanted: readonly string[], count = MIN_SLOTS): Slots {
  const w = uniqueWanted(wanted);
  const n = Math.min(MAX_SLOTS, Math.max(count, MIN_SLOTS, w.length));
  return Array.from({ length: n }, (_, i) => w[i] ?? null);
}

export interface SlotPlan {
  /** The assignment to ask the server for. */
  slots: Slots;
  /** The current subscription has too few slots: make a new one with `slots` (then drop the old). */
  renegotiate: boolean;
}

/**
 * The next assignment with the fewest moves: a source still wanted keeps its slot (its video
 * element keeps playing), slots of sources no longer wanted are freed and reused first-come.
 * When the wanted sources do not fit, a bigger subscription is planned (doubling, so a growing
 * layout renegotiates rarely).
 */
export function planSlots(current: readonly (string | null)[], wanted: readonly string[]): SlotPlan {
  const w = uniqueWanted(wanted);
  const keep = new Set(w);
  const next: Slots = current.map((s) => (s !== null && keep.has(s) ? s : null));
  for (const source of w) {
    if (next.includes(source)) continue;
    const free = next.indexOf(null);
    if (free < 0) {
      const count = Math.min(MAX_SLOTS, Math.max(w.length, current.length * 2));
      return { slots: initialSlots(w, count), renegotiate: true };
    }
    next[free] = source;
  }
  return { slots: next, renegotiate: false };
}

export function sameSlots(a: readonly (string | null)[], b: readonly (string | null)[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
