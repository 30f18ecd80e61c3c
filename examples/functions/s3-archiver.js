// Segment's example destination function ("Set up functions for calling AWS
// APIs"): each track event is written to S3 as `<type>/<ms>.json`, with the
// role fnctl made for this instance. Its settings are the ones fnctl declares
// on the function and gives each instance: iamRoleArn, iamRoleExternalId
// (sensitive), s3Bucket and s3BucketRegion. One change from Segment's page:
// the S3 client is built with the assumed role's credentials (`opts`); the
// page builds them and then calls `new AWS.S3()` without them.

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

    return new AWS.S3(opts);
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
