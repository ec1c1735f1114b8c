// A reader for the one configuration shape this filter accepts: a flat JSON object whose values are
// strings. Anything else (arrays, numbers, nesting, trailing garbage) yields null so the filter can refuse
// the configuration instead of guessing.

class Cursor {
  pos: i32 = 0;
  constructor(public text: string) {}

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  eat(code: i32): bool {
    this.skipSpace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == code) {
      this.pos++;
      return true;
    }
    return false;
  }
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

// Reads a JSON string at the cursor; returns null when the text there is not a well-formed string.
function readString(cur: Cursor): string | null {
  if (!cur.eat(0x22)) return null;
  let out = '';
  const text = cur.text;
  while (cur.pos < text.length) {
    const c = text.charCodeAt(cur.pos++);
    if (c == 0x22) return out;
    if (c != 0x5c) {
      out += String.fromCharCode(c);
      continue;
    }
    if (cur.pos >= text.length) return null;
    const e = text.charCodeAt(cur.pos++);
    if (e == 0x22 || e == 0x5c || e == 0x2f) out += String.fromCharCode(e);
    else if (e == 0x62) out += '\b';
    else if (e == 0x66) out += '\f';
    else if (e == 0x6e) out += '\n';
    else if (e == 0x72) out += '\r';
    else if (e == 0x74) out += '\t';
    else if (e == 0x75) {
      if (cur.pos + 4 > text.length) return null;
      let code = 0;
      for (let i = 0; i < 4; i++) {
        const h = hexValue(text.charCodeAt(cur.pos++));
        if (h < 0) return null;
        code = (code << 4) | h;
      }
      out += String.fromCharCode(code);
    } else return null;
  }
  return null;
}

export function readStringFields(text: string): Map<string, string> | null {
  const cur = new Cursor(text);
  const fields = new Map<string, string>();
  if (!cur.eat(0x7b)) return null;
  if (cur.eat(0x7d)) return finish(cur, fields);
  while (true) {
    cur.skipSpace();
    const key = readString(cur);
    if (key == null) return null;
    if (!cur.eat(0x3a)) return null;
    cur.skipSpace();
    const value = readString(cur);
    if (value == null) return null;
    fields.set(key, value);
    if (cur.eat(0x2c)) continue;
    if (cur.eat(0x7d)) return finish(cur, fields);
    return null;
  }
}

function finish(cur: Cursor, fields: Map<string, string>): Map<string, string> | null {
  cur.skipSpace();
  return cur.pos == cur.text.length ? fields : null;
}
