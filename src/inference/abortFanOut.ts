/**
 * Per-request abort signals that follow a shared one (a chunk's) through a single listener on it.
 * Node's EventTarget walks its listener list on every `addEventListener` (the duplicate check), so a
 * thousand requests each listening on their chunk's signal cost quadratic time: about 3% of a GPU
 * worker's CPU at a thousand requests a second (BENCH_CPU_PROFILE_DIR, undici's addAbortListener).
 */
export class AbortFanOut {
  private readonly children = new WeakMap<AbortSignal, Set<AbortController>>();

  /** A signal aborted with `parent`'s reason when `parent` aborts; call `done` when the request ends. */
  child(parent: AbortSignal): { signal: AbortSignal; done: () => void } {
    const controller = new AbortController();
    if (parent.aborted) {
      controller.abort(parent.reason);
      return { signal: controller.signal, done: () => undefined };
    }
    let siblings = this.children.get(parent);
    if (!siblings) {
      const created = new Set<AbortController>();
      parent.addEventListener(
        'abort',
        () => {
          for (const child of created) child.abort(parent.reason);
          created.clear();
        },
        { once: true },
      );
      this.children.set(parent, created);
      siblings = created;
    }
    const own = siblings;
    own.add(controller);
    return { signal: controller.signal, done: () => own.delete(controller) };
  }
}
