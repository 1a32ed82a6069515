import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { exposedEnv } from "../../src/host/exposed_env.ts";
import { redact } from "../../src/log.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("exposedEnv() returns the set names and registers their values as log secrets", () => {
  Deno.env.set("PYOCO_TEST_EXPOSED_TOKEN", "tok-1234567");
  try {
    const env = exposedEnv({ exposeEnv: ["PYOCO_TEST_EXPOSED_TOKEN", "PYOCO_TEST_UNSET_NAME"] });
    assert.deepEqual(env, { PYOCO_TEST_EXPOSED_TOKEN: "tok-1234567" });
    assert.equal(redact("token is tok-1234567"), "token is ***");
  } finally {
    Deno.env.delete("PYOCO_TEST_EXPOSED_TOKEN");
  }
});

Deno.test("exposedEnv() leaves out names the process may not read, without a prompt", async () => {
  const script = join(await Deno.makeTempDir({ prefix: "pyoco_env_" }), "probe.ts");
  const module = new URL("src/host/exposed_env.ts", `file://${ROOT}`).href;
  await Deno.writeTextFile(
    script,
    `import { exposedEnv } from ${JSON.stringify(module)};
const denied: string[] = [];
const env = exposedEnv({ exposeEnv: ["ALLOWED_ONE", "SECRET_TWO"] }, { onDenied: (n) => denied.push(n) });
console.log(JSON.stringify({ env, denied }));
`,
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-read=${ROOT},${script}`,
        "--allow-env=ALLOWED_ONE",
        script,
      ],
      env: { ALLOWED_ONE: "one", SECRET_TWO: "two" },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
      env: { ALLOWED_ONE: "one" },
      denied: ["SECRET_TWO"],
    });
  } finally {
    await Deno.remove(join(script, ".."), { recursive: true });
  }
});
