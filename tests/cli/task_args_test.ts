import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);

// The README and SPEC write `deno task NAME -- args`; Deno 2.9 passes the `--` through.
for (const name of ["gateway", "worker", "admin", "pyoco", "dev"]) {
  Deno.test(`deno task ${name} -- --help prints usage and exits 0`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", name, "--", "--help"],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /Usage:/);
  });
}
