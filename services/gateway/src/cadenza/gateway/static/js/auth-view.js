// Who is using the studio. GET /api/v1/auth/me decides: it answers in development mode
// without credentials (no sign-in shown), and 401 when the server requires an account.

import { ApiError, getJson, send } from "./api.js";
import { byId } from "./dom.js";
import { session } from "./session.js";

/** The caller ({id, role, via, email}), or null when the server wants a sign-in. */
export async function whoAmI() {
  const asked = session.accessToken;
  try {
    return await getJson("/api/v1/auth/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      // What was stored no longer counts, unless a pair was stored while we asked (a
      // sign-in that finished meanwhile): a late 401 must not throw that away.
      if (session.accessToken === asked) session.clear();
      return null;
    }
    throw error;
  }
}

async function signIn(email, password) {
  const response = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.detail || `sign-in failed (${response.status})`);
  session.store(body);
}

export async function signOut() {
  const refresh = session.refreshToken;
  try {
    await send("/api/v1/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: refresh }),
    });
  } catch {
    // already ended on the server; forgetting the tokens here is what matters
  }
  session.clear();
}

/** The sign-in form; `onSignedIn` runs after a successful sign-in. */
export function setUpSignIn(onSignedIn) {
  const form = byId("sign-in-form");
  const error = byId("sign-in-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await signIn(byId("sign-in-email").value.trim(), byId("sign-in-password").value);
      byId("sign-in-password").value = "";
      await onSignedIn();
    } catch (problem) {
      error.textContent = problem.message;
      byId("sign-in-password").focus();
    } finally {
      button.disabled = false;
    }
  });
}

/** Show the account bar for a signed-in user; nothing at all in development mode. */
export function showAccount(me) {
  const signedIn = me && me.via !== "dev";
  byId("account").hidden = !signedIn;
  byId("account-name").textContent = signedIn ? `Signed in as ${me.email || me.id}` : "";
}
