// A strict JSON reader (RFC 8259) that keeps each number as it was written: the quote API
// refuses a quantity written 2.0 or 1e1, which JSON.parse would hand over as a plain 2 or 10.
// Objects become Maps, so no key ("__proto__", "constructor") means anything to JavaScript.

export class JsonNumber {
  constructor(readonly raw: string) {}

  // integer is the number's value if it was written as an integer that a double holds, or null.
  integer(): number | null {
    if (!/^-?\d+$/.test(this.raw)) return null;
    const n = Number(this.raw);
    return Number.isFinite(n) ? n : null;
  }
}

export type Json = null | boolean | string | JsonNumber | Json[] | Map<string, Json>;

export class JsonSyntaxError extends Error {}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const SPACE = /[ \t\n\r]*/y;

export function readJson(text: string): Json {
  const r = new Reader(text);
  const v = r.value();
  r.space();
  if (r.at < text.length) throw new JsonSyntaxError(`unexpected text at ${r.at}`);
  return v;
}

class Reader {
  at = 0;
  constructor(private readonly text: string) {}

  space(): void {
    SPACE.lastIndex = this.at;
    SPACE.exec(this.text);
    this.at = SPACE.lastIndex;
  }

  private match(re: RegExp): string | null {
    re.lastIndex = this.at;
    const m = re.exec(this.text);
    if (!m) return null;
    this.at = re.lastIndex;
    return m[0];
  }

  private literal(word: string): boolean {
    if (this.text.startsWith(word, this.at)) {
      this.at += word.length;
      return true;
    }
    return false;
  }

  value(): Json {
    this.space();
    const c = this.text[this.at];
    switch (c) {
      case "{":
        return this.object();
      case "[":
        return this.array();
      case '"':
        return this.string();
    }
    if (this.literal("true")) return true;
    if (this.literal("false")) return false;
    if (this.literal("null")) return null;
    const n = this.match(NUMBER);
    if (n !== null) return new JsonNumber(n);
    throw new JsonSyntaxError(`unexpected ${c === undefined ? "end" : JSON.stringify(c)} at ${this.at}`);
  }

  private string(): string {
    const s = this.match(STRING);
    if (s === null) throw new JsonSyntaxError(`bad string at ${this.at}`);
    return JSON.parse(s) as string;
  }

  private expect(c: string): void {
    this.space();
    if (this.text[this.at] !== c) throw new JsonSyntaxError(`want ${c} at ${this.at}`);
    this.at++;
  }

  private peek(c: string): boolean {
    this.space();
    if (this.text[this.at] === c) {
      this.at++;
      return true;
    }
    return false;
  }

  private object(): Map<string, Json> {
    const out = new Map<string, Json>();
    this.expect("{");
    if (this.peek("}")) return out;
    do {
      this.space();
      const key = this.string();
      this.expect(":");
      out.set(key, this.value());
    } while (this.peek(","));
    this.expect("}");
    return out;
  }

  private array(): Json[] {
    const out: Json[] = [];
    this.expect("[");
    if (this.peek("]")) return out;
    do {
      out.push(this.value());
    } while (this.peek(","));
    this.expect("]");
    return out;
  }
}
