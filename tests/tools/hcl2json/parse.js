// parse.js FILE...: prints {"FILE": <its HCL body as JSON>, ...} on stdout, or
// the parser's positioned diagnostics on stderr and exits 1.
//
// Why: Terraform and Packer are not installable here, so the examples'
// syntax is checked with HashiCorp's HCL2 parser itself (hcl2json, built from
// hashicorp/hcl, shipped as WebAssembly in @cdktf/hcl2json), and the JSON lets
// the tests compare what main.tf declares with the fixtures.  Expressions come
// back as "${...}" strings; literal values as JSON values.
"use strict";
const fs = require("fs");
const { parse } = require("@cdktf/hcl2json");

async function main(files) {
        const out = {};
        let failed = false;
        for (const file of files) {
                try {
                        out[file] = await parse(file, fs.readFileSync(file, "utf8"));
                } catch (e) {
                        failed = true;
                        process.stderr.write(`${file}: ${e.message || e}\n`);
                }
        }
        if (failed)
                process.exit(1);
        process.stdout.write(JSON.stringify(out) + "\n");
}

if (process.argv.length < 3) {
        process.stderr.write("usage: node parse.js FILE...\n");
        process.exit(64);
}
main(process.argv.slice(2));
