#!/usr/bin/env node
// Runs a destination function's code as Segment's runtime would: the code
// text evaluated with aws-sdk v2 as the global `AWS` and a `cache` with
// `load(key, ttl, fn)`, then `onTrack(event, settings)` called with the
// instance's settings.
//
//   node runtime.js CODE.js SETTINGS.json     (the event on stdin)
//
// tests/it/seed_function.rs gives it the code and the settings the Segment
// test server holds (read unmasked from its own state); run.js uses it for
// examples/functions/s3-archiver.js with a bundle as the settings.
//
// Environment: AWS_ENDPOINT_URL (moto), AWS_REGION, and the caller's keys in
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (a user in Segment's account).
// Exit 0 and a JSON line {"ok":true,...} on stdout when onTrack succeeded;
// exit 3 and {"ok":false,"code":"AccessDenied",...} on stderr when it failed.
'use strict';

const fs = require('fs');
const vm = require('vm');
const AWS = require('aws-sdk');

const endpoint = process.env.AWS_ENDPOINT_URL;
if (!endpoint) {
  console.error('runtime.js: set AWS_ENDPOINT_URL (the moto server)');
  process.exit(64);
}
// aws-sdk v2 ignores AWS_ENDPOINT_URL: point every client (and each service
// explicitly, since service-specific config wins over the global one) at moto.
AWS.config.update({
  endpoint,
  region: process.env.AWS_REGION || 'us-east-1',
  s3ForcePathStyle: true,
  maxRetries: 0,
  sts: { endpoint },
  s3: { endpoint, s3ForcePathStyle: true },
});

// Segment's runtime provides `cache`; a minimal in-process stand-in.
function makeCache() {
  const entries = new Map();
  return {
    async load(key, ttl, fn) {
      const hit = entries.get(key);
      if (hit && hit.expires > Date.now()) {
        return hit.value;
      }
      const value = await fn();
      entries.set(key, { value, expires: Date.now() + ttl });
      return value;
    },
  };
}

// Runs `code` (from `filename`) on one event; prints the one JSON line and
// sets the exit code. `extra` is added to the success line.
async function invoke(code, filename, settings, event, extra) {
  // The function's own console.log goes to stderr: stdout is our one line.
  const sandbox = vm.createContext({
    AWS,
    cache: makeCache(),
    console: { log: (...a) => console.error(...a), error: (...a) => console.error(...a) },
  });
  try {
    vm.runInContext(code, sandbox, { filename });
    if (typeof sandbox.onTrack !== 'function') {
      throw Object.assign(new Error('the code defines no onTrack'), { code: 'NoHandler' });
    }
    await sandbox.onTrack(event, settings);
    console.log(JSON.stringify({ ok: true, ...extra }));
  } catch (error) {
    console.error(
      JSON.stringify({
        ok: false,
        code: error.code || error.name || 'Error',
        statusCode: error.statusCode,
        message: error.message,
      })
    );
    process.exitCode = 3;
  }
}

module.exports = { invoke };

if (require.main === module) {
  const [codePath, settingsPath] = process.argv.slice(2);
  if (!codePath || !settingsPath) {
    console.error('usage: node runtime.js CODE.js SETTINGS.json < EVENT.json');
    process.exit(64);
  }
  const settings = JSON.parse(fs.readFileSync(settingsPath, 'utf8'));
  const event = JSON.parse(fs.readFileSync(0, 'utf8'));
  invoke(fs.readFileSync(codePath, 'utf8'), codePath, settings, event, {});
}
