// Locks for src/browser/locks.rs (which says why they are JS): Web Locks (`navigator.locks`),
// which exclude across every tab and worker of the origin, or an in-tab queue where they are
// missing, which still serialises refreshes within the tab.

/** In-tab locks: name -> the queue of waiters to hand the lock to, present while it is held. */
const queues = new Map();

/** Asks for the lock `name`, across tabs when `crossTab`. Returns at once { release, granted }.
 * `granted` resolves, never rejects, to true, to false (with `ifAvailable`, the lock is held
 * elsewhere) or to the text of a failure. `release()` gives the lock back; called before the
 * lock is granted (the caller gave up waiting), it gives it back as soon as it is granted, so an
 * abandoned request never strands the lock. */
export function lockRequest(name, ifAvailable, crossTab) {
  let release;
  const released = new Promise((resolve) => (release = resolve));
  const granted = new Promise((resolve) => {
    if (!crossTab) {
      const take = () => {
        resolve(true);
        released.then(() => {
          const queue = queues.get(name);
          const next = queue.shift();
          if (next) next();
          else queues.delete(name);
        });
      };
      const queue = queues.get(name);
      if (!queue) {
        queues.set(name, []);
        take();
      } else if (ifAvailable) resolve(false);
      else queue.push(take);
      return;
    }
    try {
      navigator.locks
        .request(name, { ifAvailable }, (lock) => {
          // null: not granted (`ifAvailable`, held elsewhere).
          resolve(lock !== null);
          return lock === null ? undefined : released;
        })
        // Settles after release, or early when the request fails (an opaque origin, a name
        // the spec reserves): watched so a failed request is an error, not a hang.
        .then(
          () => resolve("request ended before the lock was granted"),
          (e) => resolve(String(e)),
        );
    } catch (e) {
      resolve(String(e));
    }
  });
  return { release, granted };
}
