#!/usr/bin/env node
// Runs Segment's example destination function ("Set up functions for calling
// AWS APIs", shared/seed), as the repository ships it in
// examples/functions/s3-archiver.js (with its documented fix), the way
// Segment's runtime would (runtime.js), with the instance's settings taken
// from a bundle written by fnctl.
//
//   node run.js BUNDLE.json [EVENT.json]      (the event is read from stdin when no file is given)
//
// Environment: FNCTL_FUNCTION_CODE (the example's path; tests/it sets it),
// and as runtime.js: AWS_ENDPOINT_URL (moto), AWS_REGION, the caller's keys.
// Exit 0 and {"ok":true,"instance":...} on stdout when the put succeeded;
// exit 3 and {"ok":false,"code":"AccessDenied",...} on stderr when it failed.
'use strict';

const fs = require('fs');
const { invoke } = require('./runtime.js');

const [bundlePath, eventPath] = process.argv.slice(2);
const codePath = process.env.FNCTL_FUNCTION_CODE;
if (!bundlePath || !codePath) {
  console.error('usage: FNCTL_FUNCTION_CODE=examples/functions/s3-archiver.js node run.js BUNDLE.json [EVENT.json]');
  process.exit(64);
}
const bundle = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
const event = JSON.parse(fs.readFileSync(eventPath || 0, 'utf8'));
invoke(fs.readFileSync(codePath, 'utf8'), codePath, bundle.settings, event, {
  instance: bundle.instance,
});
