#!/usr/bin/env node
// Runs Segment's example destination function ("Set up functions for calling
// AWS APIs", shared/seed) the way Segment's runtime would: Node.js, aws-sdk v2
// as the global `AWS`, a `cache` with `load(key, ttl, fn)`, and the instance's
// settings, here taken from a bundle written by fnctl.
//
//   node run.js BUNDLE.json [EVENT.json]      (the event is read from stdin when no file is given)
//
// Environment: AWS_ENDPOINT_URL (moto), AWS_REGION, and the caller's keys in
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (a user in Segment's account).
// Exit 0 and a JSON line {"ok":true,...} on stdout when the put succeeded;
// exit 3 and {"ok":false,"code":"AccessDenied",...} on stderr when it failed.
'use strict';

const fs = require('fs');
const AWS = require('aws-sdk');

const endpoint = process.env.AWS_ENDPOINT_URL;
if (!endpoint) {
  console.error('run.js: set AWS_ENDPOINT_URL (the moto server)');
  process.exit(64);
}
const region = process.env.AWS_REGION || 'us-east-1';
// aws-sdk v2 ignores AWS_ENDPOINT_URL: point every client (and each service
// explicitly, since service-specific config wins over the global one) at moto.
AWS.config.update({
  endpoint,
  region,
  s3ForcePathStyle: true,
  maxRetries: 0,
  sts: { endpoint },
  s3: { endpoint, s3ForcePathStyle: true },
});

// Segment's runtime provides `cache`; a minimal in-process stand-in.
const cache = (() => {
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
})();

// ---- Segment's example, verbatim except for the documented fix: the seed
// ---- builds `opts` (region and the assumed role's credentials) and then calls
// ---- `new AWS.S3()` without them; here `new AWS.S3(opts)`.

async function getS3(settings) {
  const ttl = 30 * 60 * 1000; // 30 minutes
  const key = [settings.iamRoleArn, settings.s3Bucket].join();

  return cache.load(key, ttl, async () => {
    const sts = new AWS.STS();

    const opts = await sts
      .assumeRole({
        RoleArn: settings.iamRoleArn,
        ExternalId: settings.iamRoleExternalId,
        RoleSessionName: 'segment-function'
      })
      .promise()
      .then(data => {
        return {
          region: settings.s3BucketRegion,
          accessKeyId: data.Credentials.AccessKeyId,
          secretAccessKey: data.Credentials.SecretAccessKey,
          sessionToken: data.Credentials.SessionToken
        };
      });

    return new AWS.S3(opts); // the fix: the seed says `new AWS.S3()`
  });
}

async function onTrack(event, settings) {
  const s3 = await getS3(settings);

  return s3
    .putObject({
      Bucket: settings.s3Bucket,
      Key: `${event.type}/${Date.now()}.json`,
      Body: JSON.stringify(event)
    })
    .promise()
    .then(data => {
      console.log(data);
    });
}

// ---- end of Segment's example.

async function main() {
  const [bundlePath, eventPath] = process.argv.slice(2);
  if (!bundlePath) {
    console.error('usage: node run.js BUNDLE.json [EVENT.json]');
    process.exit(64);
  }
  const bundle = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
  const event = JSON.parse(fs.readFileSync(eventPath || 0, 'utf8'));
  const settings = bundle.settings;
  try {
    // The seed logs the PutObject answer with console.log; keep stdout for
    // our one JSON line by sending that to stderr.
    const log = console.log;
    console.log = (...args) => console.error(...args);
    await onTrack(event, settings);
    console.log = log;
    console.log(JSON.stringify({ ok: true, instance: bundle.instance }));
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
