// The sign-in page: posts the password, and on success goes to the overview. A wrong password
// gets the worker's one message; past the failed-attempt limit (a 429) every attempt is
// refused for a while, the right password too, and the page says how long.
const form = document.getElementById("login");
const input = document.getElementById("password");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const res = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ password: input.value }),
    });
    if (res.ok) {
      location.assign("/");
      return;
    }
    const body = await res.json().catch(() => ({}));
    error.textContent =
      res.status === 429
        ? `Too many failed attempts from this address: every password is refused for now. Try again in ${Math.ceil((body.retry_after_secs ?? 60) / 60)} min.`
        : body.message || `Sign-in failed (HTTP ${res.status})`;
  } catch {
    error.textContent = "The console cannot be reached; check the connection and retry.";
  }
  error.hidden = false;
  input.setAttribute("aria-invalid", "true");
  input.value = "";
  input.focus();
  button.disabled = false;
});
