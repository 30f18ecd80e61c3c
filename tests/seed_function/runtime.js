#!/usr/bin/env node
// Runs a destination function's code as Segment's runtime would: the code
// text (as the Segment test server holds it, not a copy in this folder)
// evaluated with aws-sdk v2 as the global `AWS`, a `cache` with
// `load(key, ttl, fn)`, and `onTrack(event, settings)` called with the
// settings the instance holds (read unmasked from the test server's state).
//
//   node runtime.js CODE.js SETTINGS.json     (the event on stdin)
//
// Environment, output and exit codes as run.js: {"ok":true} on stdout, or
// exit 3 and {"ok":false,"code":...} on stderr.
'use strict';

const fs = require('fs');
const vm = require('vm');
const AWS = require('aws-sdk');

const endpoint = process.env.AWS_ENDPOINT_URL;
if (!endpoint) {
  console.error('runtime.js: set AWS_ENDPOINT_URL (the moto server)');
  process.exit(64);
}
// aws-sdk v2 ignores AWS_ENDPOINT_URL: every client goes to moto.
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

async function main() {
  const [codePath, settingsPath] = process.argv.slice(2);
  if (!codePath || !settingsPath) {
    console.error('usage: node runtime.js CODE.js SETTINGS.json < EVENT.json');
    process.exit(64);
  }
  const settings = JSON.parse(fs.readFileSync(settingsPath, 'utf8'));
  const event = JSON.parse(fs.readFileSync(0, 'utf8'));
  // The function's own console.log goes to stderr: stdout is our one line.
  const sandbox = vm.createContext({
    AWS,
    cache: makeCache(),
    console: { log: (...a) => console.error(...a), error: (...a) => console.error(...a) },
  });
  vm.runInContext(fs.readFileSync(codePath, 'utf8'), sandbox, { filename: codePath });
  if (typeof sandbox.onTrack !== 'function') {
    console.error(JSON.stringify({ ok: false, code: 'NoHandler', message: 'the code defines no onTrack' }));
    process.exit(3);
  }
  try {
    await sandbox.onTrack(event, settings);
    console.log(JSON.stringify({ ok: true }));
  } catch (error) {
    console.error(
      JSON.stringify({
        ok: false,
        code: error.code || error.name || 'Error',
        statusCode: error.statusCode,
        message: error.message,
      })
    );
    process.exit(3);
  }
}

main();
