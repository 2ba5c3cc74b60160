// The signed-in session: the token pair lives in sessionStorage, so it is gone when the
// tab closes and never shared with other tabs or sent anywhere but this API.

const ACCESS = "cadenza.access_token";
const REFRESH = "cadenza.refresh_token";
const EMAIL = "cadenza.email";

/** Fired on window when the session ends (sign-out, or a refresh the server refused). */
export const SIGNED_OUT = "cadenza:signed-out";

export const session = {
  get accessToken() {
    return sessionStorage.getItem(ACCESS);
  },
  get refreshToken() {
    return sessionStorage.getItem(REFRESH);
  },
  get email() {
    return sessionStorage.getItem(EMAIL);
  },
  get signedIn() {
    return Boolean(sessionStorage.getItem(ACCESS));
  },
  /** Keep a pair from /auth/login or /auth/refresh. */
  store(pair) {
    sessionStorage.setItem(ACCESS, pair.access_token);
    sessionStorage.setItem(REFRESH, pair.refresh_token);
    if (pair.user && pair.user.email) sessionStorage.setItem(EMAIL, pair.user.email);
  },
  clear() {
    sessionStorage.removeItem(ACCESS);
    sessionStorage.removeItem(REFRESH);
    sessionStorage.removeItem(EMAIL);
  },
  end(reason) {
    this.clear();
    window.dispatchEvent(new CustomEvent(SIGNED_OUT, { detail: reason }));
  },
};

let refreshing = null;

/**
 * Trade the refresh token for a new pair. Single-flight: a refresh token works once (a
 * second use revokes the whole session), so concurrent 401s share one refresh.
 */
export function refreshSession() {
  if (!refreshing) {
    refreshing = exchangeRefreshToken().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function exchangeRefreshToken() {
  const token = session.refreshToken;
  if (!token) return false;
  let response;
  try {
    response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: token }),
    });
  } catch {
    return false; // offline: keep the tokens, the next request tries again
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    session.end(body.detail || "your session has ended; sign in again");
    return false;
  }
  session.store(await response.json());
  return true;
}
