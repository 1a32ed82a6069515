import assert from "node:assert/strict";
import { parseFlags, suggestOption, UsageError } from "../../src/cli/usage.ts";

const OPTIONS = {
  tag: { type: "string" },
  tags: { type: "string" },
  param: { type: "string", multiple: true },
  wait: { type: "boolean" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function usageMessage(args: string[]): string {
  try {
    parseFlags(args, OPTIONS);
  } catch (err) {
    assert.ok(err instanceof UsageError, String(err));
    return err.message;
  }
  throw new Error(`parseFlags accepted ${args.join(" ")}`);
}

Deno.test("parseFlags() reads flags, repeatable flags, switches and positionals", () => {
  const { values, positionals } = parseFlags(
    ["hello", "--tag", "gpu", "--param", "x=1", "--param=y=2", "-h", "--wait", "--", "--tags"],
    OPTIONS,
  );
  assert.deepEqual(positionals, ["hello", "--tags"]);
  assert.equal(values.tag, "gpu");
  assert.deepEqual(values.param, ["x=1", "y=2"]);
  assert.equal(values.help, true);
  assert.equal(values.wait, true);
});

Deno.test("parseFlags() names a mistyped option and suggests the closest one", () => {
  assert.equal(usageMessage(["--tgs", "a"]), 'Unknown option "--tgs". Did you mean "--tags"?');
  assert.equal(usageMessage(["--wiat"]), 'Unknown option "--wiat". Did you mean "--wait"?');
  assert.equal(
    usageMessage(["--timout=3"]),
    'Unknown option "--timout". Did you mean "--timeout"?',
  );
  assert.equal(usageMessage(["--zzzzzzzz"]), 'Unknown option "--zzzzzzzz"');
  assert.equal(usageMessage(["-x"]), 'Unknown option "-x"');
});

Deno.test("parseFlags() says plainly when a value is missing or given to a switch", () => {
  assert.equal(usageMessage(["--tag"]), 'Option "--tag" needs a value');
  assert.equal(
    usageMessage(["--tag", "--wait"]),
    'Option "--tag" needs a value; to give one that starts with "-", write "--tag=--wait"',
  );
  assert.equal(usageMessage(["--wait=yes"]), 'Option "--wait" is a switch and takes no value');
  for (const args of [["--tgs"], ["--tag"], ["--tag", "-5"], ["--wait=1"]]) {
    const message = usageMessage(args);
    // No parseArgs jargon, and every quote is closed.
    assert.doesNotMatch(message, /positional|ERR_|'/, message);
    assert.equal((message.match(/"/g) ?? []).length % 2, 0, message);
  }
});

Deno.test("suggestOption() suggests within a typo's distance only", () => {
  assert.equal(suggestOption("--tgs", ["--tag", "--tags"]), "--tags");
  assert.equal(suggestOption("--ta", ["--tags", "--wait"]), "--tags");
  assert.equal(suggestOption("subnit", ["submit", "list"]), "submit");
  assert.equal(suggestOption("--verbose", ["--tags", "--wait"]), undefined);
});
