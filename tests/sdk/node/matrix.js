// The client matrix's scenario through twilio-node (tests/sdk/test_client_matrix.py; the Python
// clients run tests/sdk/matrix_driver.py). Only the API domain's base URL is changed.
// usage: node matrix.js SCENARIO_JSON   (base_url, account, token, from, to, number, recording,
// recorded_call); prints one JSON line.
"use strict";

const twilio = require("twilio");

const s = JSON.parse(process.argv[2]);

function make(user, password, accountSid) {
  const client = accountSid ? twilio(user, password, { accountSid }) : twilio(user, password);
  client.api.baseUrl = s.base_url;
  return client;
}

async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (exc) {
    return [exc.status, exc.code];
  }
}

async function scenario(client, out) {
  // Calls: three from this client's own From, listed two a page, fetched, canceled.
  const created = [];
  for (let i = 0; i < 3; i++) {
    created.push(await client.calls.create({
      to: s.to,
      from: s.from,
      twiml: "<Response><Say>matrix</Say></Response>",
      statusCallbackEvent: ["initiated", "completed"],
      statusCallback: "http://127.0.0.1:9/status",
      timeout: 30,
    }));
  }
  out.created = created.map((c) => [c.sid.slice(0, 2), c.status, c.from]);
  const fetched = await client.calls(created[0].sid).fetch();
  out.fetched = [fetched.sid === created[0].sid, fetched.to, fetched.direction];
  const first = await client.calls.page({ from: s.from, pageSize: 2 });
  const second = await first.nextPage();
  out.pages = [first.instances.length, second ? second.instances.length : 0, second && (await second.nextPage()) ? 1 : 0];
  const listed = await client.calls.list({ from: s.from, pageSize: 2 });
  out.listed = listed.map((c) => c.sid).sort();
  out.created_sids = created.map((c) => c.sid).sort();
  out.updated = [];
  for (const c of created) {
    out.updated.push((await client.calls(c.sid).update({ status: "canceled" })).status);
  }
  out.missing = await errorOf(client.calls("CA" + "0".repeat(32)).fetch());
  out.refused = await errorOf(client.calls.create({ to: s.to, from: s.from, url: "http://127.0.0.1:9/x", callReason: "x" }));

  // Recordings: the recorded call's, at account and call level.
  const recs = await client.recordings.list({ callSid: s.recorded_call, pageSize: 1 });
  out.recordings = recs.map((r) => r.sid);
  const rec = await client.recordings(s.recording).fetch();
  out.recording = [rec.sid, rec.callSid, rec.status, Number(rec.duration) >= 1];
  const callRecs = await client.calls(s.recorded_call).recordings.list();
  out.call_recordings = callRecs.map((r) => r.sid);

  // Numbers: register, list, fetch, update, release.
  const number = await client.incomingPhoneNumbers.create({ phoneNumber: s.number, voiceUrl: "http://127.0.0.1:9/in" });
  const found = await client.incomingPhoneNumbers.list({ phoneNumber: s.number });
  const got = await client.incomingPhoneNumbers(number.sid).fetch();
  const upd = await client.incomingPhoneNumbers(number.sid).update({ voiceUrl: "http://127.0.0.1:9/in2", voiceMethod: "GET" });
  await client.incomingPhoneNumbers(number.sid).remove();
  out.number = [
    number.sid.slice(0, 2),
    found.map((n) => n.sid),
    got.phoneNumber,
    upd.voiceUrl,
    upd.voiceMethod,
    await errorOf(client.incomingPhoneNumbers(number.sid).fetch()),
  ];
  out.number_sid = number.sid;
}

async function main() {
  const out = { client: "twilio-node " + require("twilio/package.json").version };
  try {
    const client = make(s.account, s.token);
    await scenario(client, out);
    // API Keys: create (the secret once), use, rename, list, fetch, delete (then refused at once:
    // the one failed login of the scenario).
    const key = await client.newKeys.create({ friendlyName: "matrix node" });
    const keyed = make(key.sid, key.secret, s.account);
    const listed = await keyed.calls.list({ from: s.from, limit: 5 });
    const renamed = await client.keys(key.sid).update({ friendlyName: "renamed" });
    out.key = [
      key.sid.slice(0, 2),
      Boolean(key.secret),
      JSON.stringify(listed.map((c) => c.sid).sort()) === JSON.stringify(out.created_sids),
      renamed.friendlyName,
      (await client.keys.list()).map((k) => k.sid).includes(key.sid),
      (await client.keys(key.sid).fetch()).friendlyName,
    ];
    await client.keys(key.sid).remove();
    out.key_deleted = await errorOf(keyed.calls(out.created_sids[0]).fetch());
  } catch (exc) {
    out.error = String(exc && exc.stack ? exc.stack : exc);
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main();
