// Request coalescing inside one isolate: the first miss for a cache key becomes the leader and
// calls the runner; later misses for the same key wait for the leader's R2 write and then read R2.
// Isolates do not share memory, so misses landing on other isolates (or colos) still call the
// runner; coalescing across them would need a Durable Object per key, which would put a
// single-location round trip on every miss. See apps/edge/README.md ("Coalescing").

const inflight = new Map<string, Promise<boolean>>();

/** A leader's handle: call `settle(stored)` once, when the R2 write has finished or failed. */
export interface Leadership {
  settle(stored: boolean): void;
}

/**
 * Joins the in-flight production of `key`. Returns `{ wait }` (resolving to whether the leader
 * stored the image) when another request leads, else `{ lead }` after registering this one as
 * leader. Synchronous, so two requests cannot both become leader.
 */
export function joinInflight(key: string): { wait: Promise<boolean> } | { lead: Leadership } {
  const existing = inflight.get(key);
  if (existing !== undefined) return { wait: existing };
  let resolve: (stored: boolean) => void = () => {};
  const promise = new Promise<boolean>((r) => {
    resolve = r;
  });
  inflight.set(key, promise);
  let settled = false;
  return {
    lead: {
      settle(stored: boolean): void {
        if (settled) return;
        settled = true;
        inflight.delete(key);
        resolve(stored);
      },
    },
  };
}

/** How many keys are being produced right now (for tests and logs). */
export function inflightCount(): number {
  return inflight.size;
}
