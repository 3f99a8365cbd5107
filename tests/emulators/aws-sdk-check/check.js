// Fetch instance-id, a listing and user-data from kiln's IMDS emulator through
// the AWS JavaScript SDK's IMDS client (@aws-sdk/ec2-metadata-service).
//
// Why: the emulator is only worth trusting if a real AWS client accepts it.
// The endpoint comes from AWS_EC2_METADATA_SERVICE_ENDPOINT, exactly as a
// client on a host with a non-default IMDS address would get it. IMDSv1 is
// disabled (AWS_EC2_METADATA_V1_DISABLED=true or the option below), so the
// SDK cannot fall back to tokenless reads: every answer here went through an
// IMDSv2 session token. Prints one JSON object on stdout; exits 1 on error.
"use strict";

const { MetadataService } = require("@aws-sdk/ec2-metadata-service");

async function statusOf(promise) {
    try {
        await promise;
        return 200;
    } catch (err) {
        return (err.$metadata && err.$metadata.httpStatusCode) || String(err);
    }
}

async function main() {
    if (!process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT) {
        throw new Error("set AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT");
    }
    const ims = new MetadataService({
        ec2MetadataV1Disabled: true,
        httpOptions: { timeout: 5000 },
        retries: 1,
        backoff: 0.05,
    });
    const token = await ims.fetchMetadataToken();
    const result = {
        endpoint: process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT,
        token_length: token.length,
        instance_id: await ims.request("/latest/meta-data/instance-id", {}),
        placement_listing: (await ims.request("/latest/meta-data/placement/", {})).split("\n"),
        user_data: await ims.request("/latest/user-data", {}),
        missing_item_status: await statusOf(ims.request("/latest/meta-data/no-such-item", {})),
    };
    // Exit explicitly: the SDK does not read the body of a non-200 answer, so the
    // 404's keep-alive socket would hold the event loop open until the server
    // closes it.
    process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
}

main().catch((err) => {
    process.stderr.write(`aws-sdk-check: ${(err && err.stack) || err}\n`);
    process.exit(1);
});
