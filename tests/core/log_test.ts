import assert from "node:assert/strict";
import { Logger, redact, registerSecret } from "../../src/log.ts";

function capture(level: "DEBUG" | "INFO" = "INFO", format: "json" | "text" = "json") {
  const lines: string[] = [];
  const logger = new Logger({
    service: "pyoco-server:worker",
    logger: "test",
    level,
    format,
    write: (l) => lines.push(l),
  });
  return { logger, lines };
}

Deno.test("Logger writes JSON lines with the SPEC §8 fields and exception origin", () => {
  const { logger, lines } = capture();
  const child = logger.child({ run_id: "r1", worker_id: "w1" });
  child.debug("hidden");
  child.error("Run failed", { err_id: "ERR-PYOCO-0007", flow_name: "f" }, new TypeError("boom"));
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]!);
  assert.equal(rec.level, "ERROR");
  assert.equal(rec.service, "pyoco-server:worker");
  assert.equal(rec.logger, "test");
  assert.equal(rec.message, "Run failed");
  assert.equal(rec.run_id, "r1");
  assert.equal(rec.worker_id, "w1");
  assert.equal(rec.err_id, "ERR-PYOCO-0007");
  assert.equal(rec.msg_id, "MSG-PYOCO-0007");
  assert.equal(rec.exc_type, "TypeError");
  assert.equal(rec.exc_message, "boom");
  assert.match(rec.exc_traceback, /TypeError: boom/);
  assert.match(rec.exc_origin, /log_test\.ts:\d+:/);
  assert.ok(!Number.isNaN(Date.parse(rec.ts)) && rec.ts.endsWith("Z"));
});

Deno.test("Logger masks API keys and registered secrets", () => {
  const { logger, lines } = capture("INFO", "text");
  registerSecret("s3cr3t-pepper");
  logger.info("key pyoco_0123456789abcdef01234567.AbC-dEf_123 used with s3cr3t-pepper");
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes("AbC-dEf_123"));
  assert.ok(!lines[0]!.includes("s3cr3t-pepper"));
  assert.match(lines[0]!, /pyoco_0123456789abcdef01234567\.\*\*\*/);
  assert.equal(redact("nothing secret"), "nothing secret");
});
