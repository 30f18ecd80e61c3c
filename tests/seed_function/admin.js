#!/usr/bin/env node
// S3 chores of tests/seed_function.rs, as the bucket's owner (moto's default
// account), with the same aws-sdk v2 the seed function uses:
//
//   node admin.js create-bucket BUCKET
//   node admin.js list BUCKET          -> JSON [{"key": ..., "body": ...}] on stdout
//
// Environment: AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
'use strict';

const AWS = require('aws-sdk');

const endpoint = process.env.AWS_ENDPOINT_URL;
if (!endpoint) {
  console.error('admin.js: set AWS_ENDPOINT_URL (the moto server)');
  process.exit(64);
}
const s3 = new AWS.S3({
  endpoint,
  region: process.env.AWS_REGION || 'us-east-1',
  s3ForcePathStyle: true,
  maxRetries: 0,
});

async function main() {
  const [command, bucket] = process.argv.slice(2);
  if (command === 'create-bucket' && bucket) {
    await s3.createBucket({ Bucket: bucket }).promise();
    console.log(JSON.stringify({ ok: true }));
  } else if (command === 'list' && bucket) {
    const objects = [];
    let token;
    do {
      const page = await s3
        .listObjectsV2({ Bucket: bucket, ContinuationToken: token })
        .promise();
      for (const item of page.Contents || []) {
        const object = await s3.getObject({ Bucket: bucket, Key: item.Key }).promise();
        objects.push({ key: item.Key, body: object.Body.toString('utf8') });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    console.log(JSON.stringify(objects));
  } else {
    console.error('usage: node admin.js create-bucket BUCKET | list BUCKET');
    process.exit(64);
  }
}

main().catch(error => {
  console.error(JSON.stringify({ ok: false, code: error.code, message: error.message }));
  process.exit(3);
});
