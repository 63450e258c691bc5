// Interop test: drives a running zkppd with the npm client
// `secure-remote-password` 0.3.1 itself, called exactly as the original
// client called it, over HTTP with node's global fetch.
//
//   node tests/interop/interop.mjs [BASE_URL] [ADMIN_TOKEN]
//
// BASE_URL defaults to $ZKPPD_URL, ADMIN_TOKEN to $ZKPPD_ADMIN_TOKEN.
// Exits 0 with a one-line summary when every step matches the contract
// (shared SPEC.md); otherwise prints what was sent, what the server answered
// and what was expected, and exits 1.

import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const client = require("secure-remote-password/client");
const { version: srpVersion } = require("secure-remote-password/package.json");

const EXPECTED_SRP_VERSION = "0.3.1";
const REQUEST_TIMEOUT_MS = 20_000;
const PROFILES = 20;

class Mismatch extends Error {}

function fail(step, detail) {
  throw new Mismatch(`${step}: ${detail}`);
}

function show(value) {
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s;
}

const baseUrl = (process.argv[2] ?? process.env.ZKPPD_URL ?? "").replace(/\/+$/, "");
const adminToken = process.argv[3] ?? process.env.ZKPPD_ADMIN_TOKEN ?? "";
// The zkppd binary and the server's database, for the operator's reset
// token (`zkppd profile reset-token`); without them that step is skipped.
const zkppdBin = process.env.ZKPPD_BIN ?? "";
const zkppdDb = process.env.ZKPPD_DB ?? "";

let requests = 0;

/** POSTs JSON and returns {status, body} with the body parsed as JSON. */
async function post(step, path, payload, headers = {}) {
  const url = `${baseUrl}${path}`;
  let res;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (e) {
    fail(step, `POST ${url} failed: ${e?.cause?.message ?? e?.message ?? e}`);
  }
  requests += 1;
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    fail(step, `POST ${path} answered ${res.status} with a body that is not JSON: ${show(text)}`);
  }
  const type = res.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    fail(step, `POST ${path} answered ${res.status} with Content-Type ${show(type)}, expected application/json`);
  }
  return { status: res.status, body, path };
}

/** Asserts a 200 answer whose body has exactly `keys` (checked by `check`). */
function expectOk(step, reply, keys) {
  if (reply.status !== 200) {
    fail(step, `POST ${reply.path} answered ${reply.status} ${show(reply.body)}, expected 200`);
  }
  const body = reply.body;
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    fail(step, `POST ${reply.path} answered 200 ${show(body)}, expected a JSON object`);
  }
  const got = Object.keys(body).sort();
  const want = [...keys].sort();
  if (show(got) !== show(want)) {
    fail(step, `POST ${reply.path} answered 200 ${show(body)}, expected exactly the fields ${show(want)}`);
  }
  return body;
}

const REASONS = { 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests", 503: "Service Unavailable" };

/** Asserts the SPEC's error body: {statusCode, error, message} (an extra "code" is allowed). */
function expectError(step, reply, status, message) {
  const body = reply.body ?? {};
  const { code, ...rest } = body;
  const want = { statusCode: status, error: REASONS[status], message };
  const ok =
    reply.status === status &&
    (code === undefined || typeof code === "string") &&
    show(Object.keys(rest).sort()) === show(Object.keys(want).sort()) &&
    Object.entries(want).every(([k, v]) => rest[k] === v);
  if (!ok) {
    fail(step, `POST ${reply.path} answered ${reply.status} ${show(body)}, expected ${status} ${show(want)}`);
  }
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const LOWER_HEX = /^(?:[0-9a-f]{2})+$/;
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;
const EXPIRY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function randomToken(kind) {
  return `interop-${kind}-${randomBytes(18).toString("base64url")}`;
}

/** Fills both buckets with `n` fresh tokens each; returns them. */
async function fillBuckets(n) {
  const auth = { Authorization: `Bearer ${adminToken}` };
  const profileTokens = Array.from({ length: n }, () => randomToken("p"));
  const signupTokens = Array.from({ length: n }, () => randomToken("s"));
  for (const [bucket, tokens] of [["profile", profileTokens], ["signup", signupTokens]]) {
    const step = `fill ${bucket} bucket`;
    const body = expectOk(step, await post(step, "/v1/bucket/fill", { bucket, tokens }, auth), ["inserted", "duplicates"]);
    if (body.inserted !== n || body.duplicates !== 0) {
      fail(step, `answered ${show(body)}, expected {"inserted":${n},"duplicates":0}`);
    }
  }
  return { profileTokens, signupTokens: new Set(signupTokens) };
}

/** Sign-up as the original client did it: salt, x, v from the library. */
async function signUp(step, buckets, id, password) {
  const salt = client.generateSalt();
  const privateKey = client.derivePrivateKey(salt, id, password);
  const verifier = client.deriveVerifier(privateKey);
  const profileToken = buckets.profileTokens.pop();
  if (profileToken === undefined) fail(step, "ran out of profile tokens (script bug)");
  const reply = await post(step, "/v1/signup", { profile_id: id, profile_token: profileToken, zkpp: verifier, salt });
  const body = expectOk(step, reply, ["token"]);
  if (!buckets.signupTokens.has(body.token)) {
    fail(step, `answered token ${show(body.token)}, which is not one of the signup tokens filled`);
  }
  buckets.signupTokens.delete(body.token);
  return { id, password, salt, verifier };
}

/**
 * Sign-in as the original client did it. Returns the session jwt, or the
 * step-2 reply when `expectFailure` (a wrong password) is set.
 */
async function signIn(step, profile, password, { expectFailure = false } = {}) {
  const { id } = profile;
  const ephemeral = client.generateEphemeral();

  const s1 = `${step}, step 1`;
  const challenge = expectOk(s1, await post(s1, "/v1/signin", { profile_id: id, key: ephemeral.public }), ["key", "salt"]);
  if (typeof challenge.key !== "string" || !LOWER_HEX.test(challenge.key) || challenge.key.length !== 512) {
    fail(s1, `B = ${show(challenge.key)}, expected 512 lowercase hex characters`);
  }
  if (challenge.salt !== profile.salt) {
    fail(s1, `salt = ${show(challenge.salt)}, expected the salt given at sign-up ${show(profile.salt)} verbatim`);
  }

  const privateKey = client.derivePrivateKey(challenge.salt, id, password);
  let session;
  try {
    session = client.deriveSession(ephemeral.secret, challenge.key, challenge.salt, id, privateKey);
  } catch (e) {
    fail(s1, `the client rejected B = ${challenge.key}: ${e.message}`);
  }

  const s2 = `${step}, step 2`;
  const reply = await post(s2, "/v1/signin/verify", { profile_id: id, key: session.proof });
  if (expectFailure) {
    expectError(s2, reply, 401, "Invalid credentials");
    return reply;
  }
  if (reply.status !== 200) {
    fail(
      s2,
      `POST /v1/signin/verify answered ${reply.status} ${show(reply.body)}, expected 200 with M2: ` +
        `the server did not accept the client's M1 ${session.proof} ` +
        `(A = ${ephemeral.public}, B = ${challenge.key}, salt = ${challenge.salt}, profile_id = ${show(id)})`,
    );
  }
  const welcome = expectOk(s2, reply, ["proof", "jwt"]);
  if (typeof welcome.proof !== "string" || !HEX.test(welcome.proof)) {
    fail(s2, `M2 = ${show(welcome.proof)}, expected hex`);
  }
  try {
    client.verifySession(ephemeral.public, session, welcome.proof);
  } catch (e) {
    fail(
      s2,
      `verifySession rejected the server's M2 ${welcome.proof} (${e.message}); ` +
        `the client's K = ${session.key}, M1 = ${session.proof}, A = ${ephemeral.public}`,
    );
  }
  const jwt = welcome.jwt;
  if (jwt === null || typeof jwt !== "object" || show(Object.keys(jwt).sort()) !== show(["auth_expiry", "auth_token", "profile_id"])) {
    fail(s2, `jwt = ${show(jwt)}, expected exactly {profile_id, auth_token, auth_expiry}`);
  }
  if (jwt.profile_id !== id) fail(s2, `jwt.profile_id = ${show(jwt.profile_id)}, expected ${show(id)}`);
  if (typeof jwt.auth_token !== "string" || !B64URL_32.test(jwt.auth_token)) {
    fail(s2, `jwt.auth_token = ${show(jwt.auth_token)}, expected 32 bytes as base64url without padding (43 characters)`);
  }
  if (typeof jwt.auth_expiry !== "string" || !EXPIRY.test(jwt.auth_expiry) || !(Date.parse(jwt.auth_expiry) > Date.now())) {
    fail(s2, `jwt.auth_expiry = ${show(jwt.auth_expiry)}, expected a future UTC time like 2026-11-25T18:00:00.000Z`);
  }
  return jwt;
}

async function expectValid(step, jwt) {
  const body = expectOk(step, await post(step, "/v1/verify", { jwt }), ["profile_id"]);
  if (body.profile_id !== jwt.profile_id) {
    fail(step, `answered profile_id ${show(body.profile_id)}, expected ${show(jwt.profile_id)}`);
  }
}

async function expectInvalid(step, jwt) {
  expectError(step, await post(step, "/v1/verify", { jwt }), 400, "Invalid token");
}

async function signOut(step, jwt) {
  const body = expectOk(step, await post(step, "/v1/signout", { jwt }), []);
  return body;
}

/** Passwords of every kind the client accepts, the empty one included. */
function passwordFor(i) {
  const fixed = [
    "",
    "correct horse battery staple",
    "pässwörd-ünïcödé",
    "密码🔐パスワード",
    "e\u0301te\u0301 (NFD) vs \u00e9t\u00e9",
    "\u{1F600}\u{1F64F}\u{1F680}",
    "tab\tand newline\nand nul\u0000inside",
    ":colon:first:and:last:",
    "x".repeat(1024),
  ];
  return i < fixed.length ? fixed[i] : randomBytes(12).toString("base64");
}

/** A new password's salt and verifier, made by the client library. */
function newRecord(id, password) {
  const salt = client.generateSalt();
  const verifier = client.deriveVerifier(client.derivePrivateKey(salt, id, password));
  return { salt, verifier, password };
}

/**
 * The account lifecycle: change the password from a fresh session (the
 * old one then fails, the new one works), list the sessions, sign out
 * everywhere, reset with an operator's token, delete the profile (then
 * sign-in behaves as for an unknown id). Returns whether the reset ran.
 */
async function lifecycle(buckets) {
  const id = randomUUID();
  let profile = await signUp("lifecycle sign-up", buckets, id, "first password");
  const mine = await signIn("lifecycle sign-in", profile, profile.password);
  const other = await signIn("lifecycle sign-in from another device", profile, profile.password);

  const changed = newRecord(id, "second password " + randomBytes(4).toString("hex"));
  expectOk(
    "password change",
    await post("password change", "/v1/password", { jwt: mine, salt: changed.salt, zkpp: changed.verifier }),
    [],
  );
  await expectValid("the session that changed the password stays", mine);
  await expectInvalid("the other device's session ended with the change", other);
  const oldPassword = profile.password;
  profile = { ...profile, ...changed };
  await signIn("the old password after the change", profile, oldPassword, { expectFailure: true });
  const fresh = await signIn("the new password after the change", profile, profile.password);

  const listed = expectOk("sessions", await post("sessions", "/v1/sessions", { jwt: fresh }), ["sessions"]);
  const sessions = listed.sessions;
  if (!Array.isArray(sessions) || sessions.length !== 2) {
    fail("sessions", `answered ${show(listed)}, expected the two live sessions`);
  }
  const current = sessions.filter((s) => s.current === true);
  if (current.length !== 1 || current[0].expiry !== fresh.auth_expiry || sessions[0] !== current[0]) {
    fail("sessions", `answered ${show(sessions)}, expected the asking (newest) session first and marked current`);
  }
  const ended = expectOk("sign out everywhere", await post("sign out everywhere", "/v1/signout/all", { jwt: fresh }), ["ended"]);
  if (ended.ended !== 2) fail("sign out everywhere", `answered ${show(ended)}, expected {"ended":2}`);
  await expectInvalid("verify after signing out everywhere", fresh);
  await expectInvalid("verify the first session after signing out everywhere", mine);

  let resetChecked = false;
  if (zkppdBin && zkppdDb) {
    const step = "operator reset";
    let token;
    try {
      token = execFileSync(zkppdBin, ["profile", "reset-token", id, "--db", zkppdDb], { encoding: "utf8" }).trim();
    } catch (e) {
      fail(step, `zkppd profile reset-token failed: ${e.stderr ?? e.message}`);
    }
    const reset = newRecord(id, "third password " + randomBytes(4).toString("hex"));
    const body = { profile_id: id, reset_token: token, salt: reset.salt, zkpp: reset.verifier };
    expectOk(step, await post(step, "/v1/password/reset", body), []);
    expectError(`${step} again with the used token`, await post(step, "/v1/password/reset", body), 401, "Invalid token");
    const before = profile.password;
    profile = { ...profile, ...reset };
    await signIn("the password before the reset", profile, before, { expectFailure: true });
    resetChecked = true;
  }

  const last = await signIn("sign-in before deleting the profile", profile, profile.password);
  expectOk("profile deletion", await post("profile deletion", "/v1/profile/delete", { jwt: last }), []);
  await expectInvalid("verify after the deletion", last);
  // Now the id is unknown: step 1 still answers, with a salt of the same
  // form that is not the profile's, and the right password fails step 2.
  const eph = client.generateEphemeral();
  const step = "sign-in after the deletion";
  const challenge = expectOk(step, await post(step, "/v1/signin", { profile_id: id, key: eph.public }), ["key", "salt"]);
  if (challenge.salt === profile.salt || !LOWER_HEX.test(challenge.salt) || challenge.salt.length !== 64) {
    fail(step, `salt = ${show(challenge.salt)}, expected a 64-hex salt unlike the deleted profile's`);
  }
  const session = client.deriveSession(
    eph.secret,
    challenge.key,
    challenge.salt,
    id,
    client.derivePrivateKey(challenge.salt, id, profile.password),
  );
  expectError(step, await post(step, "/v1/signin/verify", { profile_id: id, key: session.proof }), 401, "Invalid credentials");
  return resetChecked;
}

async function main() {
  if (!baseUrl || !adminToken) {
    throw new Mismatch(
      "start: no base URL or admin token; usage: node interop.mjs BASE_URL ADMIN_TOKEN " +
        "(or set ZKPPD_URL and ZKPPD_ADMIN_TOKEN)",
    );
  }
  if (srpVersion !== EXPECTED_SRP_VERSION) {
    throw new Mismatch(
      `start: secure-remote-password ${srpVersion} is installed, expected ${EXPECTED_SRP_VERSION}: run npm ci --prefix tests/interop`,
    );
  }

  const buckets = await fillBuckets(PROFILES + 3);

  // 1. The full life of one profile, as the original client lived it.
  const id = randomUUID();
  const password = "hunter2-" + randomBytes(8).toString("hex");
  const profile = await signUp("sign-up", buckets, id, password);

  const dup = await post("duplicate sign-up", "/v1/signup", {
    profile_id: id,
    profile_token: buckets.profileTokens.at(-1),
    zkpp: profile.verifier,
    salt: profile.salt,
  });
  expectError("duplicate sign-up", dup, 400, "Duplicate ID");

  const jwt = await signIn("sign-in", profile, password);
  await expectValid("verify", jwt);
  await expectInvalid("verify with a changed auth_expiry", { ...jwt, auth_expiry: "2999-01-01T00:00:00.000Z" });

  // A second device: its own session, untouched by the first one's sign-out.
  const jwt2 = await signIn("sign-in from a second device", profile, password);
  if (jwt2.auth_token === jwt.auth_token) fail("sign-in from a second device", "got the same auth_token twice");

  await signOut("sign-out", jwt);
  await expectInvalid("verify after sign-out", jwt);
  expectError("sign-out again", await post("sign-out again", "/v1/signout", { jwt }), 401, "Invalid token");
  await expectValid("verify the second device after the first signed out", jwt2);

  // 2. A wrong password: step 2 is refused, and the right one still works.
  await signIn("sign-in with a wrong password", profile, password + "!", { expectFailure: true });
  await signIn("sign-in with the case of the password changed", profile, password.toUpperCase(), {
    expectFailure: true,
  });
  const jwt3 = await signIn("sign-in after wrong passwords", profile, password);
  await expectValid("verify after wrong passwords", jwt3);
  await signOut("sign-out after wrong passwords", jwt3);
  await signOut("sign-out of the second device", jwt2);
  await expectInvalid("verify the second device after its sign-out", jwt2);

  // 3. Many profiles: random UUID v4 ids, all kinds of passwords.
  const profiles = [];
  for (let i = 0; i < PROFILES; i++) {
    profiles.push(await signUp(`sign-up of profile ${i + 1}/${PROFILES}`, buckets, randomUUID(), passwordFor(i)));
  }
  for (const [i, p] of profiles.entries()) {
    const step = `sign-in of profile ${i + 1}/${PROFILES} (password ${show(p.password.slice(0, 24))}${p.password.length > 24 ? "…" : ""})`;
    const session = await signIn(step, p, p.password);
    await expectValid(`verify of profile ${i + 1}/${PROFILES}`, session);
    await signOut(`sign-out of profile ${i + 1}/${PROFILES}`, session);
    await expectInvalid(`verify of profile ${i + 1}/${PROFILES} after sign-out`, session);
  }
  // Another profile's password is a wrong password.
  await signIn("sign-in with another profile's password", profiles[1], profiles[2].password, { expectFailure: true });

  // 4. The account lifecycle, driven by the same client library.
  const resetChecked = await lifecycle(buckets);

  console.log(
    `interop ok: secure-remote-password ${srpVersion} against ${baseUrl}: ` +
      `${PROFILES + 1} profiles signed up and in (M2 checked by verifySession), verify/sign-out checked, ` +
      `wrong passwords refused; password change, sessions, sign-out everywhere, ` +
      `${resetChecked ? "operator reset, " : ""}deletion; ${requests} requests`,
  );
}

try {
  await main();
} catch (e) {
  if (e instanceof Mismatch) {
    console.error(`interop FAILED at ${e.message}`);
  } else {
    console.error(`interop FAILED with an unexpected error: ${e?.stack ?? e}`);
  }
  process.exitCode = 1;
}
