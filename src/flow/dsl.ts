/**
 * The graph DSL: a tokenizer and a parser (a loop over an explicit stack) that turn text such as
 * `a >> (b & c) >> d` into task nodes and join requirements. Web APIs only.
 *
 * Grammar (SPEC §2.2):
 * ```
 * graph     := statement ((NEWLINE | ";") statement)*
 * statement := term (">>" term)*
 * term      := factor (("&" factor)* | ("|" factor)*)   # & and | never mix without parentheses
 * factor    := NAME | "(" statement ")"
 * NAME      := [A-Za-z_][A-Za-z0-9_]*
 * ```
 *
 * Conveniences on top of the grammar: blank lines, empty statements (`a >> b;`) and `#` comments
 * are ignored; a newline inside parentheses, after an operator, or before a line that starts with
 * an operator continues the statement instead of ending it.
 *
 * Meaning of `X >> Y`: every *entry* task of `Y` gets one requirement, the *exit condition* of `X`:
 * - a name `n`: entries `{n}`, exit "n succeeded";
 * - `A & B`: entries of both, exit "exit(A) and exit(B)" (AND-join);
 * - `A | B`: entries of both, exit "exit(A) or exit(B)" (OR-join);
 * - `A >> B`: entries of `A`, exit of `B`.
 *
 * So `((a | b) & c) >> d` gives `d` the requirement `all(any(a, b), c)`.
 *
 * Parentheses nest at most {@linkcode MAX_GRAPH_DEPTH} levels. The tokenizer and the parser are
 * loops; the tokenizer rejects deeper text before the parser runs, so the few walks over the tree
 * (which recurse once per level) are bounded by that constant, never by the text: 5,000 nested
 * parentheses are a clean {@linkcode FlowDefinitionError}, not a stack overflow.
 *
 * @module
 */

import { FlowDefinitionError } from "./errors.ts";
import type { JoinExpr, JoinRequirement } from "./types.ts";

/** A task name as it appears in the graph text, with its first position. */
export interface GraphNode {
  /** Task name. */
  name: string;
  /** 1-based line of its first occurrence. */
  line: number;
  /** 1-based column of its first occurrence. */
  column: number;
}

/** The result of {@linkcode parseGraph}. */
export interface ParsedGraph {
  /** Every task named in the graph, in order of first appearance. */
  nodes: GraphNode[];
  /** Task name → the requirements that must all hold before it may start (deduplicated). */
  requirements: Map<string, JoinRequirement[]>;
}

/**
 * The deepest nesting of parentheses a graph may use (SPEC §2.2). Deeper text is rejected with a
 * {@linkcode FlowDefinitionError} naming this limit and the position of the first `(` beyond it.
 *
 * @example Usage
 * ```ts
 * import { MAX_GRAPH_DEPTH, parseGraph } from "./dsl.ts";
 * import assert from "node:assert/strict";
 * const deep = "(".repeat(MAX_GRAPH_DEPTH) + "a" + ")".repeat(MAX_GRAPH_DEPTH);
 * assert.equal(parseGraph(deep).nodes.length, 1);
 * assert.throws(() => parseGraph("(" + deep + ")"), /nested deeper than 64/);
 * ```
 */
export const MAX_GRAPH_DEPTH = 64;

type _TokenKind = "name" | ">>" | "&" | "|" | "(" | ")" | ";" | "newline" | "end";

interface _Token {
  kind: _TokenKind;
  text: string;
  line: number;
  column: number;
}

const _NAME_START = /[A-Za-z_]/;
const _NAME_PART = /[A-Za-z0-9_]/;
const _OPERATORS: ReadonlySet<_TokenKind> = new Set([">>", "&", "|"]);

/** Where a problem is: a 1-based position, and an optional hint for the message. */
interface _At {
  line: number;
  column: number;
  hint?: string;
}

function _fail(problem: string, at: _At): never {
  const { line, column, hint = "" } = at;
  throw new FlowDefinitionError(
    `Cannot parse flow graph: ${problem} at line ${line}, column ${column}${
      hint ? ` (${hint})` : ""
    }`,
    { line, column },
  );
}

function _describe(token: _Token): string {
  if (token.kind === "end") return "end of graph";
  if (token.kind === "newline") return "end of line";
  return `"${token.text}"`;
}

/** Splits graph text into tokens; newlines that cannot end a statement are dropped. */
function _tokenize(text: string): _Token[] {
  const raw: _Token[] = [];
  let line = 1;
  let lineStart = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const column = i - lineStart + 1;
    if (ch === "\n") {
      raw.push({ kind: "newline", text: "\n", line, column });
      i++;
      line++;
      lineStart = i;
    } else if (ch === " " || ch === "\t" || ch === "\r") {
      i++;
    } else if (ch === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (ch === ">" && text[i + 1] === ">") {
      raw.push({ kind: ">>", text: ">>", line, column });
      i += 2;
    } else if (ch === "&" || ch === "|" || ch === "(" || ch === ")" || ch === ";") {
      raw.push({ kind: ch, text: ch, line, column });
      i++;
    } else if (_NAME_START.test(ch)) {
      let end = i + 1;
      while (end < text.length && _NAME_PART.test(text[end]!)) end++;
      raw.push({ kind: "name", text: text.slice(i, end), line, column });
      i = end;
    } else {
      const hint = ch === ">" ? 'did you mean ">>"?' : "";
      _fail(`unexpected character ${JSON.stringify(ch)}`, { line, column, hint });
    }
  }
  raw.push({ kind: "end", text: "", line, column: i - lineStart + 1 });

  // Keep a newline only where it can end a statement.
  const tokens: _Token[] = [];
  let depth = 0;
  for (let k = 0; k < raw.length; k++) {
    const token = raw[k]!;
    if (token.kind === "(" && ++depth > MAX_GRAPH_DEPTH) {
      _fail(`parentheses nested deeper than ${MAX_GRAPH_DEPTH} levels`, token);
    }
    if (token.kind === ")") depth = Math.max(0, depth - 1);
    if (token.kind !== "newline") {
      tokens.push(token);
      continue;
    }
    const prev = tokens[tokens.length - 1];
    let next = k + 1;
    while (raw[next]?.kind === "newline") next++;
    const nextKind = raw[next]!.kind;
    const continues = depth > 0 || (prev !== undefined && _OPERATORS.has(prev.kind)) ||
      prev?.kind === "(" || _OPERATORS.has(nextKind);
    if (!continues) tokens.push(token);
    k = next - 1;
  }
  return tokens;
}

/** AST of one expression. */
type _Expr =
  | { kind: "name"; name: string; line: number; column: number }
  | { kind: "and" | "or"; items: _Expr[] }
  | { kind: "seq"; items: _Expr[] };

class _Parser {
  #tokens: _Token[];
  #pos = 0;

  constructor(tokens: _Token[]) {
    this.#tokens = tokens;
  }

  get #peek(): _Token {
    return this.#tokens[this.#pos]!;
  }

  #next(): _Token {
    const token = this.#tokens[this.#pos]!;
    if (token.kind !== "end") this.#pos++;
    return token;
  }

  /** graph := statement ((NEWLINE | ";") statement)* — empty statements are skipped. */
  parseGraph(): _Expr[] {
    const statements: _Expr[] = [];
    while (this.#peek.kind !== "end") {
      if (this.#peek.kind === ";" || this.#peek.kind === "newline") {
        this.#next();
        continue;
      }
      statements.push(this.#statement());
      const after = this.#peek;
      if (after.kind !== ";" && after.kind !== "newline" && after.kind !== "end") {
        _fail(`unexpected ${_describe(after)}`, after);
      }
    }
    return statements;
  }

  /**
   * statement := term (">>" term)*; term := factor (("&" factor)* | ("|" factor)*);
   * factor := NAME | "(" statement ")". A loop over an explicit stack of open parentheses, so
   * the parser never recurses (the tokenizer has already bounded the nesting).
   */
  #statement(): _Expr {
    const stack: _Group[] = [{ open: null, seq: [], term: [], op: null }];
    for (;;) {
      const token = this.#next();
      if (token.kind === "(") {
        stack.push({ open: token, seq: [], term: [], op: null });
        continue;
      }
      if (token.kind !== "name") _fail(`unexpected ${_describe(token)}`, token);
      let factor: _Expr = {
        kind: "name",
        name: token.text,
        line: token.line,
        column: token.column,
      };
      for (;;) {
        const group = stack[stack.length - 1]!;
        group.term.push(factor);
        const after = this.#peek;
        if (after.kind === "&" || after.kind === "|") {
          if (group.op !== null && after.kind !== group.op) {
            _fail(`"&" and "|" cannot be mixed without parentheses`, {
              ...after,
              hint: 'group them, e.g. "(a & b) | c"',
            });
          }
          group.op = after.kind;
          this.#next();
          break; // a factor follows
        }
        group.seq.push(_closeTerm(group));
        if (after.kind === ">>") {
          this.#next();
          break; // a term follows
        }
        const statement = group.seq.length === 1
          ? group.seq[0]!
          : { kind: "seq" as const, items: group.seq };
        if (group.open === null) return statement;
        const close = this.#next();
        if (close.kind === "end") _fail(`unclosed "("`, group.open);
        if (close.kind !== ")") _fail(`unexpected ${_describe(close)}`, close);
        stack.pop();
        factor = statement; // the parenthesised statement is a factor of the enclosing term
      }
    }
  }
}

/** An open parenthesis (or the statement itself) while parsing: what it holds so far. */
interface _Group {
  /** The "(" token, or `null` for the statement's top level. */
  open: _Token | null;
  /** Completed terms, joined by ">>". */
  seq: _Expr[];
  /** Factors of the term being read. */
  term: _Expr[];
  /** The operator of that term, once seen. */
  op: "&" | "|" | null;
}

function _closeTerm(group: _Group): _Expr {
  const items = group.term;
  const op = group.op;
  group.term = [];
  group.op = null;
  if (items.length === 1) return items[0]!;
  return { kind: op === "&" ? "and" : "or", items };
}

function _entries(expr: _Expr, out: _Expr[]): void {
  switch (expr.kind) {
    case "name":
      out.push(expr);
      return;
    case "seq":
      _entries(expr.items[0]!, out);
      return;
    default:
      for (const item of expr.items) _entries(item, out);
  }
}

function _exit(expr: _Expr): JoinExpr {
  switch (expr.kind) {
    case "name":
      return { kind: "task", name: expr.name };
    case "seq":
      return _exit(expr.items[expr.items.length - 1]!);
    default: {
      const kind = expr.kind === "and" ? "all" : "any";
      const of: JoinExpr[] = [];
      for (const item of expr.items) {
        const sub = _exit(item);
        // Flatten all(all(..)) / any(any(..)) – same meaning, cheaper to evaluate.
        if (sub.kind === kind) of.push(...sub.of);
        else of.push(sub);
      }
      return { kind, of };
    }
  }
}

/**
 * A stable text key of a join expression, used to drop duplicate requirements.
 *
 * @param expr The expression.
 * @returns E.g. `all(any(a,b),c)`.
 */
export function joinExprKey(expr: JoinExpr): string {
  if (expr.kind === "task") return expr.name;
  return `${expr.kind}(${expr.of.map(joinExprKey).join(",")})`;
}

/**
 * Task names an expression refers to, in order, without duplicates.
 *
 * @param expr The expression.
 * @param out Where to add the names.
 * @returns `out`.
 */
export function joinExprTasks(expr: JoinExpr, out: Set<string> = new Set()): Set<string> {
  if (expr.kind === "task") out.add(expr.name);
  else for (const sub of expr.of) joinExprTasks(sub, out);
  return out;
}

class _GraphBuilder {
  nodes: GraphNode[] = [];
  requirements = new Map<string, JoinRequirement[]>();
  #seen = new Set<string>();
  #keys = new Map<string, Set<string>>();

  visit(expr: _Expr): void {
    switch (expr.kind) {
      case "name":
        if (!this.#seen.has(expr.name)) {
          this.#seen.add(expr.name);
          this.nodes.push({ name: expr.name, line: expr.line, column: expr.column });
          this.requirements.set(expr.name, []);
          this.#keys.set(expr.name, new Set());
        }
        return;
      case "seq":
        for (const item of expr.items) this.visit(item);
        for (let i = 1; i < expr.items.length; i++) {
          this.#link(expr.items[i - 1]!, expr.items[i]!);
        }
        return;
      default:
        for (const item of expr.items) this.visit(item);
    }
  }

  #link(from: _Expr, to: _Expr): void {
    const when = _exit(from);
    const key = joinExprKey(when);
    const targets: _Expr[] = [];
    _entries(to, targets);
    for (const target of targets) {
      if (target.kind !== "name") continue;
      const keys = this.#keys.get(target.name)!;
      if (keys.has(key)) continue;
      keys.add(key);
      this.requirements.get(target.name)!.push({
        when,
        line: target.line,
        column: target.column,
      });
    }
  }
}

/**
 * Parses graph DSL text into task nodes and join requirements.
 *
 * @example Usage
 * ```ts
 * import { parseGraph } from "./dsl.ts";
 * import assert from "node:assert/strict";
 * const g = parseGraph("a >> (b | c) >> d");
 * assert.deepEqual(g.nodes.map((n) => n.name), ["a", "b", "c", "d"]);
 * assert.deepEqual(g.requirements.get("d")?.[0]?.when, {
 *   kind: "any",
 *   of: [{ kind: "task", name: "b" }, { kind: "task", name: "c" }],
 * });
 * ```
 *
 * @param text The graph text (statements separated by newlines or `;`).
 * @returns The nodes in order of first appearance and each node's requirements.
 * @throws {FlowDefinitionError} When the text is not valid DSL; the message and the error's
 * `line`/`column` give the position.
 */
export function parseGraph(text: string): ParsedGraph {
  if (typeof text !== "string") {
    throw new FlowDefinitionError(`Cannot parse flow graph: expected a string, got ${typeof text}`);
  }
  const statements = new _Parser(_tokenize(text)).parseGraph();
  if (statements.length === 0) {
    throw new FlowDefinitionError("Cannot parse flow graph: the graph is empty", {
      line: 1,
      column: 1,
    });
  }
  const builder = new _GraphBuilder();
  for (const statement of statements) builder.visit(statement);
  return { nodes: builder.nodes, requirements: builder.requirements };
}
