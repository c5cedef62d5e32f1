// Sign-in in a popup window, for src/wasm/popup.rs (which says how it works, and why it is JS).

const POLL_MS = 250; // how often the opener looks at the popup
const CLOSE_GRACE_POLLS = 2; // after the popup is seen closed, how long a result may still arrive

const text = (v) => (typeof v === "string" ? v : "");

/** Sends `popup` to `url` and waits for the login with `state` to report on the BroadcastChannel
 * `name`. Resolves, never rejects, to { result } or to an error's { code, message }. */
export function popupRun(popup, name, state, url, timeoutMs) {
  const closed = { code: "popup_closed", message: "the sign-in popup was closed" };
  const isClosed = () => {
    try {
      return popup.closed;
    } catch {
      return true;
    }
  };
  if (isClosed()) return Promise.resolve(closed);
  let channel;
  try {
    channel = new BroadcastChannel(name);
  } catch {
    return Promise.resolve({ code: "unsupported", message: "no BroadcastChannel for the popup" });
  }
  return new Promise((resolve) => {
    let timer;
    const settle = (outcome) => {
      clearInterval(timer);
      channel.onmessage = null;
      channel.close();
      resolve(outcome);
    };
    channel.onmessage = ({ data }) => {
      if (data?.state !== state) return;
      settle(
        data.ok === true
          ? { result: data.result }
          : { code: text(data.error?.code), message: text(data.error?.message) },
      );
    };
    // Believe `closed` only once the popup was seen open on the authorization page (see popup.rs).
    let seenOpenElsewhere = false;
    let closedPolls = 0;
    const started = Date.now(); // wall time: timers of a tab in the background run late
    timer = setInterval(() => {
      if (Date.now() - started >= timeoutMs) {
        try {
          popup.close();
        } catch {}
        return settle({ code: "timeout", message: `the sign-in popup did not finish within ${timeoutMs} ms` });
      }
      if (!isClosed()) {
        try {
          void popup.location.href;
        } catch {
          seenOpenElsewhere = true; // a cross-origin document makes the location unreadable
        }
        return;
      }
      if (seenOpenElsewhere && ++closedPolls > CLOSE_GRACE_POLLS) settle(closed);
    }, POLL_MS);
    try {
      popup.location.href = url;
    } catch {
      settle(closed);
    }
  });
}

/** In the popup, after `handleCallback`: hands the result (`code` undefined) or the error to the
 * opener on the BroadcastChannel `name`, and closes this window. The message is on its way once
 * posted; the close waits a moment all the same. */
export function popupReport(name, state, result, code, message) {
  try {
    new BroadcastChannel(name).postMessage(
      code === undefined ? { state, ok: true, result } : { state, ok: false, error: { code, message } },
    );
  } catch {}
  if (typeof window !== "undefined") setTimeout(() => window.close(), 200);
}
