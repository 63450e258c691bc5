// The browser app of the forward-auth test (tests/it/proxy.rs): bundled
// with esbuild at test time and loaded by headless Chromium from a page
// served through nginx, on the same origin as zkppd's API and the
// protected app. It does what a real sign-in page does with the npm
// client the original system shipped (`secure-remote-password` 0.3.1):
// sign up, sign in through fetch (the browser keeps the HttpOnly session
// cookie zkppd sets), then reach the protected app through nginx's
// auth_request, sign out, and reach it again. Every step's outcome is
// written into the page as `<li id="STEP">STEP=VALUE</li>`, which the test
// reads from `--dump-dom`.
//
// The page's query string names the profile id, password and profile
// token: `index.html?id=...&password=...&token=...`.

import * as client from "secure-remote-password/client";

const results = document.getElementById("results");

function report(step, value) {
  const li = document.createElement("li");
  li.id = step;
  li.textContent = `${step}=${value}`;
  results.append(li);
}

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  return { status: res.status, body: await res.json() };
}

// The protected app through fetch: `STATUS:BODY`.
async function fetchApp() {
  const res = await fetch("/app/whoami", { credentials: "same-origin", cache: "no-store" });
  return `${res.status}:${(await res.text()).trim()}`;
}

// The protected app as a page (a navigation in a frame): its title (nginx's
// error pages have one) or its text.
let frames = 0;
function loadApp() {
  return new Promise((resolve, reject) => {
    const frame = document.createElement("iframe");
    frames += 1;
    frame.src = `/app/whoami?frame=${frames}`;
    frame.onload = () => {
      const doc = frame.contentDocument;
      resolve(doc.title || doc.body.innerText.trim());
      frame.remove();
    };
    frame.onerror = () => reject(new Error("frame did not load"));
    document.body.append(frame);
  });
}

async function main() {
  const query = new URLSearchParams(location.search);
  const id = query.get("id");
  const password = query.get("password");
  const token = query.get("token");

  report("before", await fetchApp());

  const salt = client.generateSalt();
  const verifier = client.deriveVerifier(client.derivePrivateKey(salt, id, password));
  const signup = await post("/v1/signup", { profile_id: id, profile_token: token, zkpp: verifier, salt });
  report("signup", signup.status);

  const ephemeral = client.generateEphemeral();
  const step1 = await post("/v1/signin", { profile_id: id, key: ephemeral.public });
  report("signin_start", step1.status);
  const privateKey = client.derivePrivateKey(step1.body.salt, id, password);
  const session = client.deriveSession(ephemeral.secret, step1.body.key, step1.body.salt, id, privateKey);
  const step2 = await post("/v1/signin/verify", { profile_id: id, key: session.proof });
  report("signin", step2.status);
  client.verifySession(ephemeral.public, session, step2.body.proof);
  report("server_proof", "verified");
  const jwt = step2.body.jwt;
  // HttpOnly: the page's script cannot read the session cookie.
  report("cookie_readable", document.cookie.includes(jwt.auth_token));

  report("app_fetch", await fetchApp());
  report("app_page", await loadApp());

  const signout = await post("/v1/signout", { jwt });
  report("signout", signout.status);

  report("app_fetch_after", await fetchApp());
  report("app_page_after", await loadApp());
  report("done", "yes");
}

main().catch((e) => report("error", e && e.stack ? e.stack : String(e)));
