// printable: text from storage made safe for a terminal; a station reports its own `station` and `package` strings.

// C0 and C1 controls, DEL and the bidirectional overrides: escape sequences a stored string could use to
// rewrite the operator's screen, or reorder what a line appears to say.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** The text with every unsafe character written as a \uXXXX escape. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`)
}
